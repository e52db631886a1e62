-- ffi.new with initialisers.
ffi.cdef[[ struct key_t { uint32_t pid; uint32_t cpu; }; ]]
local stats = bpf.map('hash', 16, 'struct key_t', 'uint64_t')
return {
  stats = stats,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    local k = ffi.new('struct key_t', 1, 2)
    stats[k] = 1
  end),
}
