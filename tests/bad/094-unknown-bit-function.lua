-- bit.tohex makes a string.
local counts = bpf.map('hash', 16)
return {
  counts = counts,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    counts[ctx.id] = bit.tohex(ctx.id)
  end),
}
