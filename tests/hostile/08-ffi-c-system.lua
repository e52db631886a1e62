-- Calling system() through ffi.C.
local ffi = require('ffi')
ffi.cdef[[ int system(const char *cmd); ]]
ffi.C.system('touch /tmp/ljbpf-hostile/pwned')
local m = bpf.map("hash", 16)
return { m = m, p = bpf.socket(function (skb) m[1] = 1 end) }
