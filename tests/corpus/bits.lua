-- Bit operations as bit.* calls and as native operators, on numbers (32-bit) and cdata (64-bit).
local out = bpf.map('array', 4, ffi.typeof('uint32_t'), ffi.typeof('uint64_t'))
return {
  out = out,
  bits = bpf.socket(function (skb)
    local a = pkt.ip.ttl
    local b = pkt.ip.proto
    local x = bit.band(bit.bor(a, 0xf0), bit.bnot(b))
    local y = bit.lshift(a, 4) + bit.rshift(b, 1) + bit.arshift(-a, 2) + bit.bxor(a, b)
    local z = (a & 0x0f) | (b << 8) ~ (a >> 1) ~>> 1
    local n = ~a
    local wide = pid_tgid() >> 32
    out[0] = wide & 0xffff
    out[1] = bit.band(bit.bnot(x), 0xff)
    return x + y + z + n
  end),
}
