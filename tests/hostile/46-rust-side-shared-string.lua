-- A 100 MiB string referenced 16 times from an upvalue table (1.6 GB if copied each time).
local s = string.rep('x', 100 * 2 ^ 20)
local T = {}
for i = 1, 16 do T['s' .. i] = s end
local m = bpf.map('hash', 16)
return { m = m, p = bpf.socket(function (skb) m[1] = #T end) }
