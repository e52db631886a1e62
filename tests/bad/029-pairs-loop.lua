-- Iterating a map with pairs() inside a program.
local counts = bpf.map('hash', 16)
local totals = bpf.map('array', 1)
return {
  counts = counts,
  totals = totals,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    for k, v in pairs(counts) do
      totals[0] = v
    end
  end),
}
