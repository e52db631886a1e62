-- string.dump through the string metatable and through a string's methods.
local mt = getmetatable('')
local dump = (type(mt) == 'table' and mt.__index.dump) or ('').dump
print(dump(function () end))
local m = bpf.map("hash", 16)
return { m = m, p = bpf.socket(function (skb) m[1] = 1 end) }
