-- syscalls/sys_enter_write: fd is 8 bytes at offset 16 on Linux 6.18, count a size_t.
local bytes = bpf.map('hash', 64, ffi.typeof('uint32_t'), ffi.typeof('uint64_t'))
return {
  bytes = bytes,
  on_write = bpf.tracepoint('syscalls/sys_enter_write', function (ctx)
    local fd = ctx.fd
    local v = bytes[fd]
    if v then
      xadd(v, ctx.count)
    else
      bytes[fd] = ctx.count
    end
  end),
}
