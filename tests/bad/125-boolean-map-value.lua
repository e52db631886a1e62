-- LuaJIT cannot convert a boolean to an integer map value.
local m = bpf.map('hash', 16, 'uint32_t', 'uint64_t')
return {
  m = m,
  prog = bpf.tracepoint('syscalls/sys_enter_getpid', function (ctx)
    m[1] = true
  end),
}
