-- Elements of an array map cannot be deleted.
local counts = bpf.map('array', 16)
return {
  counts = counts,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    counts[1] = nil
  end),
}
