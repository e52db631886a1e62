-- In the reference compiler's style (bcc examples/lua), body unchanged.
local ffi = require('ffi')
local map = bpf.map('hash', 64, ffi.typeof('uint32_t'), ffi.typeof('uint32_t'))
return {
  map = map,
  prog = bpf.socket('lo', function (skb)
	-- Only ingress so we don't count twice on loopback
	if skb.ingress_ifindex == 0 then return end
	local data = pkt.ip.tcp.data  -- Get TCP protocol dissector
	-- Continue only if we have 7 bytes of TCP data
	if data + 7 > skb.len then return end
	-- Fetch 4 bytes of TCP data and compare
	local h = data(0, 4)
	if h == 'HTTP' or h == 'GET ' or
	   h == 'POST' or h == 'PUT ' or
	   h == 'HEAD' or h == 'DELE' then
	   	local v = map[h]
	   	if not v then map[h] = 1
	   	else xadd(map[h], 1)
	   	end
	end
  end),
}
