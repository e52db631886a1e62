-- A pointer ctype called to make a pointer object, then written through.
local ffi = require('ffi')
local p = ffi.typeof('int *')(0)
p[0] = 1
local m = bpf.map("hash", 16)
return { m = m, p = bpf.socket(function (skb) m[1] = 1 end) }
