-- bit.lshift needs a value and a shift count.
local counts = bpf.map('hash', 16)
return {
  counts = counts,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    counts[ctx.id] = bit.lshift(ctx.id)
  end),
}
