-- Raw table access in a program.
local counts = bpf.map('hash', 16)
return {
  counts = counts,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    counts[ctx.id] = rawget(counts, ctx.id)
  end),
}
