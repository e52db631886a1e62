-- LuaJIT accepts any 32-bit max_entries, but the kernel refuses a hash map of more than 2^31
-- entries (E2BIG): refused at compile time, at the map's line.
local m = bpf.map('hash', 2 ^ 32 - 1)
return { m = m, p = bpf.socket(function (skb) m[1] = 1 end) }
