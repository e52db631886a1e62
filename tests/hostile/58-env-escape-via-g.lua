-- _G and rawget on it, and module(), to reach the real globals.
print(rawget(_G, 'jit'), rawget(_G, 'package'), _G._G == _G)
module('x')
local m = bpf.map("hash", 16)
return { m = m, p = bpf.socket(function (skb) m[1] = 1 end) }
