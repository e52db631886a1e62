-- XDP: direct packet access through the dissectors (eth → ip → tcp/udp with a run-time IP
-- header length, ip6, bit fields, a slice compare, d[i] at a run-time index), the context's
-- fields, verdicts, packet writes (swap the MAC addresses, decrement the TTL) and redirects.
local ffi = require('ffi')
local counts = bpf.map('percpu_array', 256, ffi.typeof('uint32_t'), ffi.typeof('uint64_t'))
local ports = bpf.map('hash', 64, ffi.typeof('uint16_t'), ffi.typeof('uint8_t'))
local tx = bpf.map('devmap', 4)

return {
  counts = counts,
  ports = ports,
  tx = tx,
  classify = bpf.xdp(function (ctx)
    local eth = pkt
    if ntoh(eth.type) == c.eth.ip6 then
      return eth.ip6.next_header == 58 and XDP_DROP or XDP_PASS
    end
    if ntoh(eth.type) ~= c.eth.ip then return XDP_PASS end
    local ip = eth.ip
    local n = counts[ip.proto]
    if n then xadd(n, 1) end
    if ip.ver ~= 4 or ip.mf == 1 then return XDP_ABORTED end
    if ip.proto == c.ip.proto_tcp then
      local tcp = ip.tcp
      if ports[ntoh(tcp.dst_port)] then return XDP_DROP end
      if tcp.flag_syn == 1 and tcp.data(0, 4) == 'GET ' then return XDP_DROP end
    elseif ip.proto == c.ip.proto_udp then
      local d = ip.udp.data
      local i = d[0] % 8
      if d[i] == 0xff then return XDP_DROP end
    end
    return ctx.rx_queue_index == 99 and XDP_ABORTED or XDP_PASS
  end),
  reflect = bpf.xdp(function (ctx)
    for i = 0, 5 do
      local t = pkt[i]
      pkt[i] = pkt[i + 6]
      pkt[i + 6] = t
    end
    if ntoh(pkt.type) == c.eth.ip then
      pkt.ip.ttl = pkt.ip.ttl - 1
    end
    return XDP_TX
  end),
  forward = bpf.xdp(function (ctx)
    if ctx.ingress_ifindex == 1 then return redirect(2, 0) end
    return redirect_map(tx, 0, XDP_PASS)
  end),
}
