-- Two programs with one error each: both are reported, in line order.
local counts = bpf.map('hash', 16)
return {
  counts = counts,
  second = bpf.tracepoint('raw_syscalls/sys_exit', function (ctx)
    counts[ctx.id] = ctx.id * 2.5
  end),
  first = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    counts[ctx.id] = undefined_thing
  end),
}
