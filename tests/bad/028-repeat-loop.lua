-- A repeat ... until loop.
local counts = bpf.map('hash', 16)
return {
  counts = counts,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    local n = ctx.id
    repeat
      n = bit.rshift(n, 1)
    until n < 4
    counts[n] = 1
  end),
}
