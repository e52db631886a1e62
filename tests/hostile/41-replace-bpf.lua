-- bpf.map and the bpf table replaced or given a metatable.
local real = bpf.map
bpf.map = function (...) while true do end end
print(pcall(setmetatable, bpf, {}))
local m = real('hash', 16)
return { m = m, p = bpf.socket(function (skb) m[1] = 1 end) }
