-- In the reference compiler's style (bcc examples/lua), body unchanged.
return {
  prog = bpf.socket('lo', function (skb)
	local ip6 = pkt.ip6
	if ip6.next_header == c.ip.proto_ipv6 or ip6.next_header == 0 then
		local opt = ip6.ip6_opt
		if opt.next_header == c.ip.proto_udp then
			print('udp after opt, dport %d\n', ntoh(opt.udp.dst_port))
		end
	elseif ip6.next_header == c.ip.proto_tcp then
		print('tcp %d -> %d\n', ntoh(ip6.tcp.src_port), ntoh(ip6.tcp.dst_port))
	end
	return 0
  end),
}
