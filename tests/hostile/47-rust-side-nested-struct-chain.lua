-- A chain of 4,000 nested structs as a map value (was quadratic or worse).
local parts = { 'struct s0 { uint8_t x; };' }
for i = 1, 4000 do
  parts[#parts + 1] = ('struct s%d { struct s%d a; uint8_t b; };'):format(i, i - 1)
end
ffi.cdef(table.concat(parts, '\n'))
local m = bpf.map('hash', 16, 'uint32_t', 'struct s4000')
return { m = m, p = bpf.socket(function (skb) m[1] = nil end) }
