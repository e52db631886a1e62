-- Maps have no methods inside a program.
local counts = bpf.map('hash', 16)
return {
  counts = counts,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    counts:update(ctx.id, 1)
  end),
}
