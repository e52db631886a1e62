-- A struct-keyed map indexed with a number.
ffi.cdef[[ struct key_t { uint32_t pid; uint32_t cpu; }; ]]
local stats = bpf.map('hash', 16, 'struct key_t', 'uint64_t')
return {
  stats = stats,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    stats[ctx.id] = 1
  end),
}
