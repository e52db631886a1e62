-- Struct keys and values from ffi.cdef, in-place field updates of a looked-up value, xadd on a
-- field, ffi.new stack objects with field stores, delete with m[k] = nil.
ffi.cdef[[
struct key_t { uint32_t pid; uint32_t cpu; };
struct stat_t { uint64_t calls; uint64_t last; uint32_t max_fd; int32_t delta; };
]]
local stats = bpf.map('hash', 256, 'struct key_t', 'struct stat_t')
local seen = bpf.map('lru_hash', 64, ffi.typeof('uint32_t'), ffi.typeof('uint32_t'))
return {
  stats = stats,
  seen = seen,
  on_write = bpf.tracepoint('syscalls/sys_enter_write', function (ctx)
    local k = ffi.new('struct key_t')
    k.pid = bit.rshift(pid_tgid(), 32)
    k.cpu = cpu()
    local v = stats[k]
    if v then
      xadd(v.calls, 1)
      v.last = time()
      if ctx.fd > v.max_fd then v.max_fd = ctx.fd end
      v.delta = v.delta - 1
    else
      local s = ffi.new('struct stat_t')
      s.calls = 1
      s.max_fd = ctx.fd
      stats[k] = s
    end
    if ctx.count == 0 then
      seen[k.pid] = nil
    else
      seen[k.pid] = 1
    end
  end),
}
