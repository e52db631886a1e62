-- tostring of a builtin gives an address; cast it to a pointer and read memory near it.
local ffi = require('ffi')
local addr = tonumber(tostring(print):match('0x(%x+)') or '0', 16)
local p = ffi.cast('uint8_t *', addr)
print(p[0])
local m = bpf.map("hash", 16)
return { m = m, p = bpf.socket(function (skb) m[1] = 1 end) }
