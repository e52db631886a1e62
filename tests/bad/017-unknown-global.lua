-- A global that does not exist inside a program (a typo of `time`).
local last = bpf.map('array', 1, 'uint32_t', 'uint64_t')
return {
  last = last,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    last[0] = tme()
  end),
}
