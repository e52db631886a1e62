-- Programs compute with 64-bit integers: 1.5 cannot be represented.
local counts = bpf.map('hash', 16)
return {
  counts = counts,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    counts[ctx.id] = ctx.id * 1.5
  end),
}
