-- Regression (difftest seed 7): a stack slot first written on one branch and used after the join
-- made Linux 6.18's verifier fail with a "verifier bug" message; the frame is now written at entry.
local out = bpf.map('array', 12, 'uint32_t', 'uint64_t')
local m = bpf.map('array', 8, 'uint32_t', 'uint64_t')
local w = bpf.map('array', 8, 'uint32_t', 'uint32_t')
return {
  out = out,
  m = m,
  w = w,
  p0 = bpf.socket(function (skb)
    local a = ntoh(pkt.ip.src) - 0x80000000
    local b = ntoh(pkt.ip.dst) - 0x80000000
    local c = ntoh(pkt.ip.tcp.seq_num)
    local d = pkt.ip.ttl
    local x = ntoh(pkt.ip6.dst_lo)
    local i = a * 0x100000000LL + c
    local j = b * 1LL
    if (i >= c) then
      x = (0x0ULL + ((2147483647 < 255) and x or x))
    elseif (a < b) then
    end
    local n6 = a
    if ((((d ~= 65536) and 2LL or 4294967296LL) < (c / 7LL)) and (x > j)) then
    end
    return n6
  end),
}
