-- package.loadlib opens a shared object and returns a C function from it.
local f = package.loadlib('/lib/x86_64-linux-gnu/libc.so.6', 'system')
f('touch /tmp/ljbpf-hostile/pwned')
local m = bpf.map("hash", 16)
return { m = m, p = bpf.socket(function (skb) m[1] = 1 end) }
