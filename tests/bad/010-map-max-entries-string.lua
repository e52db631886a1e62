-- max_entries given as a string.
local counts = bpf.map('hash', 'many')
return {
  counts = counts,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    counts[ctx.id] = 1
  end),
}
