-- Upvalue tables whose subtables are shared: 40 wide, 4 levels deep, grows as width^4 on the
-- Rust side if every path is described again.
local function level(n, child)
  local t = {}
  for i = 1, n do t['k' .. i] = child end
  return t
end
local T = level(40, level(40, level(40, level(40, 1))))
local m = bpf.map('hash', 16)
return { m = m, p = bpf.socket(function (skb) m[1] = T.k1.k1.k1.k1 end) }
