-- A map value of type void has no size: an error at the bpf.map line.
local m = bpf.map('hash', 16, 'uint32_t', 'void')
return { m = m, p = bpf.socket(function (skb) m[1] = nil end) }
