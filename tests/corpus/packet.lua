-- Socket filter dissectors: eth → ip/ip6 → tcp/udp with a run-time IP header length, bit
-- fields, ntoh/hton, skb fields.
return {
  classify = bpf.socket('lo', function (skb)
    local eth = pkt
    if ntoh(eth.type) == 0x0800 then
      local ip = eth.ip
      if ip.proto == 6 then
        local tcp = ip.tcp
        if tcp.flag_syn == 1 and tcp.flag_ack == 0 then return 2 end
        return ntoh(tcp.dst_port)
      elseif ip.proto == 17 then
        return ntoh(ip.udp.dst_port) + ip.hlen
      end
      return ip.ttl
    elseif ntoh(eth.type) == 0x86dd then
      return eth.ip6.next_header + 1000
    end
    return skb.len
  end),
}
