-- require('jit') to reach jit.util or to turn the JIT on (compiled loops skip the hook).
local j = require('jit')
j.on()
print(j.util)
local m = bpf.map("hash", 16)
return { m = m, p = bpf.socket(function (skb) m[1] = 1 end) }
