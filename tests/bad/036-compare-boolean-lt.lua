-- Ordering a boolean.
local counts = bpf.map('hash', 16)
return {
  counts = counts,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    local big = ctx.id > 100
    if big < true then
      counts[ctx.id] = 1
    end
  end),
}
