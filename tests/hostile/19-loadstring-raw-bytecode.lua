-- Hand-made bytecode passed to loadstring.
local f = loadstring('\27LJ\2\10\0\0\0\0')
print(f)
local m = bpf.map("hash", 16)
return { m = m, p = bpf.socket(function (skb) m[1] = 1 end) }
