-- Many ffi.typeof calls against a large registry (each parse must not copy the registry).
local parts = {}
for i = 1, 3000 do parts[#parts + 1] = ('struct t%d { uint32_t a; };'):format(i) end
ffi.cdef(table.concat(parts, ' '))
for i = 1, 200000 do ffi.typeof('struct t' .. (i % 3000 + 1)) end
local m = bpf.map("hash", 16)
return { m = m, p = bpf.socket(function (skb) m[1] = 1 end) }
