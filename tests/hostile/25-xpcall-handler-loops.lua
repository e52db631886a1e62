-- An error handler that loops for ever, and a loop around it.
while true do
  xpcall(function () error('x') end, function () while true do end end)
end
local m = bpf.map("hash", 16)
return { m = m, p = bpf.socket(function (skb) m[1] = 1 end) }
