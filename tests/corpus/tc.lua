-- tc (sched_cls, direct action): direct packet reads and writes, __sk_buff fields,
-- load_bytes, redirect and TC_ACT_* verdicts, on the ingress and egress hooks.
local ffi = require('ffi')
local bytes = bpf.map('array', 2, ffi.typeof('uint32_t'), ffi.typeof('uint64_t'))

return {
  bytes = bytes,
  ingress = bpf.tc(function (skb)
    local n = bytes[0]
    if n then xadd(n, skb.len) end
    if ntoh(pkt.type) ~= c.eth.ip then return TC_ACT_OK end
    if pkt.ip.ttl <= 1 then return TC_ACT_SHOT end
    local buf = ffi.new('uint8_t[4]')
    load_bytes(26, buf)
    if buf[0] == 10 and skb.mark == 0 then return redirect(skb.ifindex, 0) end
    return TC_ACT_OK
  end),
  egress = bpf.tc(nil, 'egress', function (skb)
    if ntoh(pkt.type) == c.eth.ip and pkt.ip.proto == c.ip.proto_udp then
      pkt.ip.udp.dst_port = hton(ntoh(pkt.ip.udp.dst_port) + 1)
      return TC_ACT_PIPE
    end
    return TC_ACT_UNSPEC
  end),
}
