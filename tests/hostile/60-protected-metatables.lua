-- Changing the compiler's metatables: maps, ctypes, strings.
local m = bpf.map('hash', 16)
print(pcall(setmetatable, m, {}), getmetatable(m), getmetatable(ffi.typeof('int')))
print(pcall(setmetatable, ffi.typeof('int'), {}))
rawset(m, 'x', 1)
return { m = m, p = bpf.socket(function (skb) m[1] = 1 end) }
