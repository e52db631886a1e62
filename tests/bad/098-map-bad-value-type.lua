-- A value type given as a boolean.
local counts = bpf.map('hash', 16, 'uint32_t', true)
return {
  counts = counts,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    counts[ctx.id] = 1
  end),
}
