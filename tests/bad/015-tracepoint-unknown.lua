-- A tracepoint that does not exist.
local counts = bpf.map('hash', 16)
return {
  counts = counts,
  prog = bpf.tracepoint('syscalls/sys_enter_frobnicate', function (ctx)
    counts[ctx.id] = 1
  end),
}
