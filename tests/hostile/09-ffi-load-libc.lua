-- ffi.load of libc, then system().
local ffi = require('ffi')
ffi.cdef[[ int system(const char *cmd); ]]
ffi.load('libc.so.6').system('touch /tmp/ljbpf-hostile/pwned')
local m = bpf.map("hash", 16)
return { m = m, p = bpf.socket(function (skb) m[1] = 1 end) }
