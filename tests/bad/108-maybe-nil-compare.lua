-- Comparing a lookup that may be nil.
local counts = bpf.map('hash', 16)
return {
  counts = counts,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    if counts[ctx.id] > 5 then
      counts[ctx.id] = 0
    end
  end),
}
