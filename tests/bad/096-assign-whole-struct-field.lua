-- A struct copied into another struct's field.
local counts = bpf.map('hash', 16)
ffi.cdef[[ struct key_t { uint32_t pid; }; struct outer_t { struct key_t k; }; ]]
return {
  counts = counts,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    local a = ffi.new('struct outer_t')
    local k = ffi.new('struct key_t')
    a.k = k
    counts[ctx.id] = a.k.pid
  end),
}
