-- A field of a lookup that may be nil.
ffi.cdef[[ struct stat_t { uint64_t calls; uint64_t last; }; ]]
local stats = bpf.map('hash', 16, 'uint32_t', 'struct stat_t')
local last = bpf.map('array', 1, 'uint32_t', 'uint64_t')
return {
  stats = stats,
  last = last,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    local s = stats[ctx.id]
    last[0] = s.last
  end),
}
