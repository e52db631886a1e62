-- cgroup skb: packets from the IP header on (pkt.ip, pkt.ip6), __sk_buff fields, SK_PASS /
-- SK_DROP on the ingress and egress hooks.
local ffi = require('ffi')
local seen = bpf.map('array', 2, ffi.typeof('uint32_t'), ffi.typeof('uint64_t'))

return {
  seen = seen,
  sent = bpf.cgroup_skb(nil, 'egress', function (skb)
    local n = seen[1]
    if n then xadd(n, 1) end
    if skb.protocol == hton(c.eth.ip6) then
      return pkt.ip6.next_header == c.ip.proto_udp and SK_DROP or SK_PASS
    end
    local ip = pkt.ip
    if ip.proto == c.ip.proto_udp and ntoh(ip.udp.dst_port) == 9 then return SK_DROP end
    return SK_PASS
  end),
  received = bpf.cgroup_skb(function (skb)
    local n = seen[0]
    if n then xadd(n, skb.len) end
    return pkt.ip.ttl ~= 0 and SK_PASS or SK_DROP
  end),
}
