-- Loops are not supported yet.
local counts = bpf.map('array', 8)
return {
  counts = counts,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    for i = 0, 7 do
      counts[i] = 0
    end
  end),
}
