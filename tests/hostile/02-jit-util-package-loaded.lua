-- jit.util through package.loaded.
local ju = package.loaded['jit.util']
print(ju.ircalladdr(20))
local m = bpf.map("hash", 16)
return { m = m, p = bpf.socket(function (skb) m[1] = 1 end) }
