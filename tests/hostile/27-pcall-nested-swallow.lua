-- Nested pcalls, each catching the limit error raised in the one inside.
local function deep(n)
  if n == 0 then while true do end end
  while true do pcall(deep, n - 1) end
end
deep(50)
local m = bpf.map("hash", 16)
return { m = m, p = bpf.socket(function (skb) m[1] = 1 end) }
