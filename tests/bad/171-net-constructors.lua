-- A hook direction other than ingress or egress.
local a = bpf.tc('eth0', 'sideways', function (skb) return 0 end)
return { a = a }
