-- pcall in a loop swallows the time limit's error.
while true do
  pcall(function () while true do end end)
end
local m = bpf.map("hash", 16)
return { m = m, p = bpf.socket(function (skb) m[1] = 1 end) }
