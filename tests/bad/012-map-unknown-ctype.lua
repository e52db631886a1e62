-- A value type naming a struct that was never declared.
local counts = bpf.map('hash', 16, 'uint32_t', 'struct stats_t')
return {
  counts = counts,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    counts[ctx.id] = nil
  end),
}
