-- ffi.load opens a shared library.
local ffi = require('ffi')
local libc = ffi.load('c')
local counts = bpf.map('hash', 16)
return {
  counts = counts,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    counts[ctx.id] = 1
  end),
}
