-- Comparing two structs.
local counts = bpf.map('hash', 16)
ffi.cdef[[ struct key_t { uint32_t pid; uint32_t cpu; }; ]]
return {
  counts = counts,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    local a = ffi.new('struct key_t')
    local b = ffi.new('struct key_t')
    if a == b then counts[ctx.id] = 1 end
  end),
}
