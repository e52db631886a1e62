-- Calling a C function through ffi.C at build time.
local ffi = require('ffi')
ffi.cdef[[ int getpid(void); ]]
local me = ffi.C.getpid()
local counts = bpf.map('hash', 16)
return {
  counts = counts,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    counts[ctx.id] = me
  end),
}
