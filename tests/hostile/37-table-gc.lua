-- A table finalizer: run at collection or when the state closes (Lua 5.2 semantics).
setmetatable({}, { __gc = function () while true do end end })
_G.keep = setmetatable({}, { __gc = function () while true do end end })
local m = bpf.map("hash", 16)
return { m = m, p = bpf.socket(function (skb) m[1] = 1 end) }
