-- Calling a number.
local counts = bpf.map('hash', 16)
local limit = 10
return {
  counts = counts,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    counts[ctx.id] = limit(ctx.id)
  end),
}
