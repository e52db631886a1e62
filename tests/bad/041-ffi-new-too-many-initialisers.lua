-- A struct with two fields takes at most two initialisers.
ffi.cdef[[ struct pair_t { uint32_t a; uint32_t b; }; ]]
return {
  prog = bpf.tracepoint('syscalls/sys_enter_getpid', function (ctx)
    local p = ffi.new('struct pair_t', 1, 2, 3)
  end),
}
