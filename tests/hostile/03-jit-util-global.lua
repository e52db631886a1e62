-- jit.util through the jit global, and jit.attach to run code on traces.
print(jit.util.ircalladdr(0))
jit.attach(function () os.execute('touch /tmp/ljbpf-hostile/pwned') end, 'trace')
local m = bpf.map("hash", 16)
return { m = m, p = bpf.socket(function (skb) m[1] = 1 end) }
