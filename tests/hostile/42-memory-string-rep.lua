-- One huge allocation.
local s = string.rep('x', 2 ^ 30 + 2 ^ 29)
print(#s)
local m = bpf.map("hash", 16)
return { m = m, p = bpf.socket(function (skb) m[1] = 1 end) }
