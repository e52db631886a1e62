-- The map is keyed by struct key_t; a struct other_t of the same size is not that type.
ffi.cdef[[ struct key_t { uint32_t a; }; struct other_t { uint32_t b; }; ]]
local m = bpf.map('hash', 16, 'struct key_t', 'uint64_t')
return {
  m = m,
  prog = bpf.tracepoint('syscalls/sys_enter_getpid', function (ctx)
    local k = ffi.new('struct other_t')
    k.b = 1
    m[k] = 1
  end),
}
