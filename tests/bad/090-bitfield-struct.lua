-- C bit fields in a struct.
local counts = bpf.map('hash', 16)
ffi.cdef[[ struct stat_t { uint32_t flag:1; uint32_t rest:31; }; ]]
local stats = bpf.map('hash', 16, 'uint32_t', 'struct stat_t')
return {
  counts = counts,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    local v = stats[ctx.id]
    if v then counts[ctx.id] = v.flag end
  end),
}
