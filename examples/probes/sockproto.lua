-- sockproto: packets and bytes per IP protocol on a network interface, like the reference's
-- sock-proto example.
--
-- A socket filter sees every packet of the interface its AF_PACKET socket is bound to (the
-- Rust side, src/bin/sockproto.rs, binds it to --iface). The key is the IPv4 protocol or the
-- IPv6 next header (the first one: extension headers are counted as themselves), so TCP over
-- both families shares the row for 6. skb.len is the length of the whole frame, link-layer
-- header included. The filter returns 0: nothing is queued to the socket.
local ffi = require('ffi')
ffi.cdef[[
struct proto_stats {
  uint64_t packets;
  uint64_t bytes;
};
]]

local stats = bpf.map('hash', 256, ffi.typeof('uint32_t'), ffi.typeof('struct proto_stats'))

return {
  stats = stats,
  count = bpf.socket(function (skb)
    local ethertype = ntoh(pkt.type)
    local proto
    if ethertype == c.eth.ip then
      proto = pkt.ip.proto
    elseif ethertype == c.eth.ip6 then
      proto = pkt.ip6.next_header
    else
      return 0
    end
    local s = stats[proto]
    if s then
      xadd(s.packets, 1)
      xadd(s.bytes, skb.len)
    else
      -- Two packets can both miss and both insert; one count is lost then, as in bcc tools.
      stats[proto] = ffi.new('struct proto_stats', 1, skb.len)
    end
    return 0
  end),
}
