-- xdpfw: a small XDP firewall. Counts the packets arriving on an interface per IP protocol
-- and drops TCP and UDP packets to the destination ports in `blocked`, which the Rust side
-- (src/bin/xdpfw.rs) fills from --drop-port before attaching.
--
-- The program runs in the driver (or in generic XDP) before the kernel allocates an skb, and
-- reads the packet directly: a packet too short for a header it reads ends the program with
-- XDP_PASS. The key of `stats` is the IPv4 protocol or the IPv6 next header; everything else
-- (ARP, ...) is counted under 256.
local ffi = require('ffi')
ffi.cdef[[
struct fw_stats {
  uint64_t packets;
  uint64_t dropped;
};
]]

local stats = bpf.map('percpu_array', 257, ffi.typeof('uint32_t'), ffi.typeof('struct fw_stats'))
local blocked = bpf.map('hash', 1024, ffi.typeof('uint16_t'), ffi.typeof('uint8_t'))

return {
  stats = stats,
  blocked = blocked,
  fw = bpf.xdp(function (ctx)
    local ethertype = ntoh(pkt.type)
    -- TCP and UDP have the destination port at the same offset: read it as UDP's.
    local proto, port = 256, -1
    if ethertype == c.eth.ip then
      proto = pkt.ip.proto
      if proto == c.ip.proto_tcp or proto == c.ip.proto_udp then
        port = ntoh(pkt.ip.udp.dst_port)
      end
    elseif ethertype == c.eth.ip6 then
      proto = pkt.ip6.next_header
      if proto == c.ip.proto_tcp or proto == c.ip.proto_udp then
        port = ntoh(pkt.ip6.udp.dst_port)
      end
    end
    local s = stats[proto]
    if not s then return XDP_PASS end
    xadd(s.packets, 1)
    if port >= 0 and blocked[port] then
      xadd(s.dropped, 1)
      return XDP_DROP
    end
    return XDP_PASS
  end),
}
