-- loadfile/dofile read files (here a bytecode file, if one were there).
print(pcall(loadfile, '/tmp/ljbpf-hostile/canary'))
dofile('/tmp/ljbpf-hostile/canary')
local m = bpf.map("hash", 16)
return { m = m, p = bpf.socket(function (skb) m[1] = 1 end) }
