-- Backtracking through match, under pcall.
local s = string.rep('x', 60)
print(pcall(string.match, s, string.rep('x-', 40) .. 'y'))
local m = bpf.map("hash", 16)
return { m = m, p = bpf.socket(function (skb) m[1] = 1 end) }
