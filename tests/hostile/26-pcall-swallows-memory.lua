-- pcall swallows the memory limit's error, again and again.
local keep = {}
while true do
  pcall(function () keep[#keep + 1] = #keep .. string.rep('x', 2 ^ 26) end)
end
local m = bpf.map("hash", 16)
return { m = m, p = bpf.socket(function (skb) m[1] = 1 end) }
