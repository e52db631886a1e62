-- Backtracking through gsub and a method call on a string.
local s = string.rep('ab', 30)
print((s):gsub(string.rep('.-', 25) .. 'x', ''))
local m = bpf.map("hash", 16)
return { m = m, p = bpf.socket(function (skb) m[1] = 1 end) }
