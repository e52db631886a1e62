-- Run-time indexes and packet slices with run-time bounds (docs/indexes.md): per TCP packet,
-- count it in a bucket of a map-value array (ports 8 and 9 % 10 fall outside the 8 buckets:
-- dropped), note its TTL in a record array, mark a stack array at an index read from the
-- payload, and look for "HTTP" at an offset read from the payload.
local ffi = require('ffi')
ffi.cdef[[
struct recent_t { uint32_t packets; uint8_t ttl; };
struct stats_t { uint64_t by_bucket[8]; struct recent_t recent[4]; uint32_t http; };
]]
local stats = bpf.map('array', 1, 'uint32_t', 'struct stats_t')

return {
  stats = stats,
  count = bpf.socket(function (skb)
    local ip = pkt.ip
    if ip.proto ~= 6 then return 0 end
    local data = ip.tcp.data
    local v = stats[0]
    if v then
      xadd(v.by_bucket[ntoh(ip.tcp.dst_port) % 10], 1)
      local slot = ip.ttl % 4
      v.recent[slot].packets = v.recent[slot].packets + 1
      v.recent[slot].ttl = ip.ttl
      local off = data[1]
      if data(off, off + 4) == 'HTTP' then xadd(v.http, 1) end
    end
    local seen = ffi.new('uint8_t[4]')
    seen[data[0]] = 1
    return seen[0] + seen[1] * 2 + seen[2] * 4 + seen[3] * 8
  end),
}
