-- max_entries must be a positive integer.
local counts = bpf.map('hash', 0)
return {
  counts = counts,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    counts[ctx.id] = 1
  end),
}
