-- One long C call: a backtracking pattern the instruction hook cannot interrupt.
local s = string.rep('a', 40)
print(string.find(s, string.rep('a*', 30) .. 'b'))
local m = bpf.map("hash", 16)
return { m = m, p = bpf.socket(function (skb) m[1] = 1 end) }
