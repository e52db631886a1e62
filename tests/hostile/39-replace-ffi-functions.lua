-- Replaced library functions the compiler might call after the top level.
local spin = function () while true do end end
ffi.typeof, ffi.sizeof, ffi.cdef, ffi.istype = spin, spin, spin, spin
string.format, string.gsub, string.match, string.find = spin, spin, spin, spin
table.concat, table.sort = spin, spin
local m = bpf.map('hash', 16, 'uint32_t', 'uint64_t')
return { m = m, p = bpf.socket(function (skb) m[1] = 1 end) }
