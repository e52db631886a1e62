-- LuaJIT bytecode made by string.dump and loaded (not memory-safe).
local f = load(string.dump(function () return 1 end))
print(f())
local m = bpf.map("hash", 16)
return { m = m, p = bpf.socket(function (skb) m[1] = 1 end) }
