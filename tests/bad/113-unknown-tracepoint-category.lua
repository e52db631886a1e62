-- A tracepoint category that does not exist.
local counts = bpf.map('hash', 16)
return {
  counts = counts,
  prog = bpf.tracepoint('no_such_subsystem/some_event', function (ctx)
    counts[ctx.id] = 1
  end),
}
