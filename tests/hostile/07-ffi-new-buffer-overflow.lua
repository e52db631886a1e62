-- A C buffer at the top level, written past its end.
local ffi = require('ffi')
local b = ffi.new('char[4]')
for i = 0, 1e6 do b[i] = 65 end
local m = bpf.map("hash", 16)
return { m = m, p = bpf.socket(function (skb) m[1] = 1 end) }
