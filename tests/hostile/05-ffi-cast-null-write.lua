-- A write through a null pointer would crash the compiler with SIGSEGV.
local ffi = require('ffi')
ffi.cast('int*', 0)[0] = 1
local m = bpf.map("hash", 16)
return { m = m, p = bpf.socket(function (skb) m[1] = 1 end) }
