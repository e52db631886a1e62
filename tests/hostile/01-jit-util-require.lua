-- Code execution through jit.util: ircalladdr gives addresses inside libc.
local ju = require('jit.util')
print(ju.ircalladdr(0))
local m = bpf.map("hash", 16)
return { m = m, p = bpf.socket(function (skb) m[1] = 1 end) }
