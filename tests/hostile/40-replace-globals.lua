-- Replaced globals the compiler might call: pairs, type, tostring, rawget, setmetatable.
local spin = function () while true do end end
pairs, ipairs, next, type, tostring, rawget, rawset, select = spin, spin, spin, spin, spin, spin, spin, spin
local m = bpf.map('hash', 16)
return { m = m, p = bpf.socket(function (skb) m[1] = 1 end) }
