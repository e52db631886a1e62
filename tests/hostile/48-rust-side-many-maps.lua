-- Very many map declarations, and every one returned.
local t = {}
for i = 1, 200000 do t['m' .. i] = bpf.map('array', 1) end
t.p = bpf.socket(function (skb) return 0 end)
return t
