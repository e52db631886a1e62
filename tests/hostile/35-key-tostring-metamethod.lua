-- A returned table keyed by a table with __tostring (run if the compiler printed the key).
local m = bpf.map('hash', 16)
local k = setmetatable({}, { __tostring = function () while true do end end })
return { [k] = m, p = bpf.socket(function (skb) m[1] = 1 end) }
