-- A while loop.
local counts = bpf.map('hash', 16)
return {
  counts = counts,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    local n = ctx.id
    while n > 10 do
      n = n - 10
    end
    counts[n] = 1
  end),
}
