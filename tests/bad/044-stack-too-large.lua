-- Three 200-byte stack objects: 600 bytes, over BPF's 512-byte stack.
ffi.cdef[[ struct big_t { uint64_t w[25]; }; ]]
local out = bpf.map('hash', 16, 'uint32_t', 'struct big_t')
return {
  out = out,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    local a = ffi.new('struct big_t')
    local b = ffi.new('struct big_t')
    local c = ffi.new('struct big_t')
    a.w[0] = 1
    b.w[0] = 2
    c.w[0] = 3
    out[1] = a
    out[2] = b
    out[3] = c
  end),
}
