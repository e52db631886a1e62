-- An address from tostring turned into a uint64 cdata and used as a pointer.
local ffi = require('ffi')
local addr = tostring({}):match('0x(%x+)')
local n = ffi.new('uint64_t', tonumber(addr or '0', 16))
local p = ffi.cast('void **', n)
print(p[0])
local m = bpf.map("hash", 16)
return { m = m, p = bpf.socket(function (skb) m[1] = 1 end) }
