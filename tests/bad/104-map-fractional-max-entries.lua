-- max_entries must be an integer.
local counts = bpf.map('hash', 16.5)
return {
  counts = counts,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    counts[ctx.id] = 1
  end),
}
