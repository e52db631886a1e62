-- A map lookup may be nil: it must be checked before arithmetic.
local counts = bpf.map('hash', 16)
return {
  counts = counts,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    counts[ctx.id] = counts[ctx.id] + 1
  end),
}
