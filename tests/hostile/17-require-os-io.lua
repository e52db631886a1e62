-- os and io through require.
require('os').execute('touch /tmp/ljbpf-hostile/pwned')
require('io').open('/tmp/ljbpf-hostile/canary', 'w'):write('x')
local m = bpf.map("hash", 16)
return { m = m, p = bpf.socket(function (skb) m[1] = 1 end) }
