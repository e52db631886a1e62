-- os: environment, files, commands, time zone files.
print(os.getenv('HOME'), os.tmpname())
os.remove('/tmp/ljbpf-hostile/canary')
os.rename('/tmp/ljbpf-hostile/canary', '/tmp/ljbpf-hostile/pwned')
os.execute('touch /tmp/ljbpf-hostile/pwned')
local m = bpf.map("hash", 16)
return { m = m, p = bpf.socket(function (skb) m[1] = 1 end) }
