-- A function pointer cast from an address and called.
local ffi = require('ffi')
local system = ffi.cast('int (*)(const char *)', 0x7f0000001000)
system('touch /tmp/ljbpf-hostile/pwned')
local m = bpf.map("hash", 16)
return { m = m, p = bpf.socket(function (skb) m[1] = 1 end) }
