-- A double key: one error at the bpf.map line (BPF has no floating point), no second one.
local m = bpf.map('hash', 16, 'double', 'uint64_t')
return { m = m, p = bpf.socket(function (skb) m[1] = 2 end) }
