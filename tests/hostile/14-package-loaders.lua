-- The Lua file loader called directly.
local loader = package.loaders[2]('passwd')
print(loader)
local m = bpf.map("hash", 16)
return { m = m, p = bpf.socket(function (skb) m[1] = 1 end) }
