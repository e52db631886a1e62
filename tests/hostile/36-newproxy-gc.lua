-- A finalizer (newproxy with __gc) to run code when the state closes.
local p = newproxy(true)
getmetatable(p).__gc = function () os.execute('touch /tmp/ljbpf-hostile/pwned') end
local m = bpf.map("hash", 16)
return { m = m, p = bpf.socket(function (skb) m[1] = 1 end) }
