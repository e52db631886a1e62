-- Arithmetic in every operand form (VN, NV, VV), unary minus, floored modulo, integer division.
local K = 1000
return {
  arith = bpf.socket(function (skb)
    local a = pkt.ip.ttl
    local b = pkt.ip.tos
    local x = a + 7 - b * 3
    local y = 100 - a
    local z = a * b + x / 2 - y % 7
    local w = -z + K
    local q = (a - b) % 5
    return w % 256 + q
  end),
}
