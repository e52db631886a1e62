-- cgroup skb programs read their packet but cannot write it; they have no `eth` either
-- (their packet starts at the IP header); they return 0 or 1 (egress: 0 to 3).
return {
  f = bpf.cgroup_skb(function (skb)
    pkt.ip.ttl = 1
    return SK_PASS
  end),
  g = bpf.cgroup_skb(function (skb)
    return eth.type == 8 and SK_PASS or SK_DROP
  end),
  h = bpf.cgroup_skb(function (skb) return 2 end),
  i = bpf.cgroup_skb(nil, 'egress', function (skb) return 3 end),
}
