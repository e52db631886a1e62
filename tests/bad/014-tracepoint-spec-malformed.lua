-- A tracepoint must be named `category/name`.
local counts = bpf.map('hash', 16)
return {
  counts = counts,
  prog = bpf.tracepoint('sys_enter', function (ctx)
    counts[ctx.id] = 1
  end),
}
