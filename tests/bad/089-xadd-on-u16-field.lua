-- xadd needs a 4- or 8-byte integer.
local counts = bpf.map('hash', 16)
ffi.cdef[[ struct stat_t { uint16_t small; uint64_t big; }; ]]
local stats = bpf.map('hash', 16, 'uint32_t', 'struct stat_t')
return {
  counts = counts,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    local v = stats[ctx.id]
    if v then xadd(v.small, 1) end
  end),
}
