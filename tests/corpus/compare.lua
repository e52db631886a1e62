-- Every comparison, signed numbers, unsigned uint64 cdata, and/or/not as values and conditions.
local counts = bpf.map('array', 8, ffi.typeof('uint32_t'), ffi.typeof('uint64_t'))
return {
  counts = counts,
  compare = bpf.socket(function (skb)
    local a, b = pkt.ip.ttl, pkt.ip.tos
    local r = 0
    if a < b then r = r + 1 end
    if a <= b then r = r + 2 end
    if a > b then r = r + 4 end
    if a >= b then r = r + 8 end
    if a == b then r = r + 16 end
    if a ~= b then r = r + 32 end
    if not (a <= b) then r = r + 64 end
    if a - b < 0 then r = r + 128 end
    local big = 0xffffffffffffffffULL
    if big > 1 then r = r + 256 end
    local m = (a > 10 and a) or 5
    local t = a == 64 and b == 0
    if t then r = r + 512 end
    if not t then r = r + 1024 end
    local v = counts[0]
    if v == nil then return 0 end
    if v then v[0] = m end
    return r
  end),
}
