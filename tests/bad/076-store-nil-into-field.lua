-- nil cannot be stored into a struct field.
local counts = bpf.map('hash', 16)
ffi.cdef[[ struct key_t { uint32_t pid; uint32_t cpu; }; ]]
return {
  counts = counts,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    local k = ffi.new('struct key_t')
    k.pid = nil
    counts[ctx.id] = k.pid
  end),
}
