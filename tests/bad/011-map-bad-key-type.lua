-- A key type given as a number instead of a ctype or C type string.
local counts = bpf.map('hash', 16, 4, 'uint64_t')
return {
  counts = counts,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    counts[ctx.id] = 1
  end),
}
