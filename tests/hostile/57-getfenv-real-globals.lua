-- getfenv(0) and getfenv of a compiler function would give the real global table.
local G = getfenv(0)
print(G.jit.util, getfenv(bpf.map).debug)
local m = bpf.map("hash", 16)
return { m = m, p = bpf.socket(function (skb) m[1] = 1 end) }
