-- An upvalue table whose metamethods loop: described by the compiler after the top level.
local spin = function () while true do end end
local T = setmetatable({ a = 1, b = setmetatable({}, { __index = spin }) },
  { __index = spin, __pairs = spin, __tostring = spin, __eq = spin, __len = spin })
local m = bpf.map('hash', 16)
return { m = m, p = bpf.socket(function (skb) m[1] = T.a end) }
