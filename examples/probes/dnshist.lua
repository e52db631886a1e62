-- dnshist: counts DNS queries per query type (QTYPE), like the reference's sock-parse-dns
-- example, but walking a QNAME of up to MAX_LABELS labels.
--
-- A socket filter on the interface the Rust side (src/bin/dnshist.rs) binds it to. For an
-- IPv4 UDP datagram to config[0] (the DNS port, 53 unless --port says otherwise), the question
-- starts after the 12-byte DNS header with the QNAME: labels, each a length byte and that many
-- bytes, ended by a zero byte; the 2-byte QTYPE follows it. Compression pointers (length
-- bytes >= 0xc0) do not occur in the first question of a query: such packets are skipped.
--
-- The dissectors are all taken before the first `return`: see the note in the report on
-- dissector offsets used inside loops after an early return (a compiler defect worked around).
local ffi = require('ffi')

local MAX_LABELS = 10

local config = bpf.map('array', 1, ffi.typeof('uint32_t'), ffi.typeof('uint64_t'))
local qtypes = bpf.map('hash', 1024, ffi.typeof('uint32_t'), ffi.typeof('uint64_t'))

return {
  config = config,
  qtypes = qtypes,
  dns = bpf.socket(function (skb)
    local ip = pkt.ip
    local udp = ip.udp
    local data = udp.data
    if ntoh(pkt.type) ~= c.eth.ip or ip.proto ~= c.ip.proto_udp then return 0 end
    local port = config[0]
    if not port or ntoh(udp.dst_port) ~= port then return 0 end
    -- Walk the labels: off is the offset in the UDP payload of the next length byte.
    local off = 12
    for _ = 1, MAX_LABELS do
      local len = data[off]
      if len == 0 or len >= 0xc0 then break end
      off = off + len + 1
    end
    if data[off] ~= 0 then return 0 end
    local question = data + off
    local qtype = ntoh(question(1, 3))
    local n = qtypes[qtype]
    if n then
      xadd(n, 1)
    else
      qtypes[qtype] = 1
    end
    return 0
  end),
}
