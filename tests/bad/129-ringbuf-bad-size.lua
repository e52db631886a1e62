-- A ring buffer's size is a power of two of at least 4096 bytes.
local ring = bpf.map('ringbuf', 1000)
return {
  ring = ring,
  prog = bpf.tracepoint('syscalls/sys_enter_getpid', function (ctx)
    local e = ffi.new('uint64_t[1]')
    ringbuf_output(ring, e)
  end),
}
