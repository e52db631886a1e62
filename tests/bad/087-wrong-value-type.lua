-- A struct-valued map assigned a number.
local counts = bpf.map('hash', 16)
ffi.cdef[[ struct stat_t { uint64_t calls; uint64_t last; }; ]]
local stats = bpf.map('hash', 16, 'uint32_t', 'struct stat_t')
return {
  counts = counts,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    stats[ctx.id] = 1
  end),
}
