-- xadd adds numbers, not booleans.
local m = bpf.map('array', 1, 'uint32_t', 'uint64_t')
return {
  m = m,
  prog = bpf.tracepoint('syscalls/sys_enter_getpid', function (ctx)
    local v = m[0]
    if v then xadd(v, true) end
  end),
}
