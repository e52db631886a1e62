-- A returned table whose metamethods loop: the compiler must read it raw.
local m = bpf.map('hash', 16)
local spin = function () while true do end end
return setmetatable({ m = m, p = bpf.socket(function (skb) m[1] = 1 end) },
  { __index = spin, __pairs = spin, __len = spin, __tostring = spin, __newindex = spin })
