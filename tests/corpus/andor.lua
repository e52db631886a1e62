-- and/or as values and conditions, not, nested if/elseif/else, locals live across blocks.
local out = bpf.map('array', 4, ffi.typeof('uint32_t'), ffi.typeof('int64_t'))
return {
  out = out,
  andor = bpf.socket(function (skb)
    local a, b = pkt.ip.ttl, pkt.ip.proto
    local big = a > 100 and b or 0
    local small = (a < 10 or b == 6) and 1 or 2
    local neg = not (a == b)
    local level
    if a > 200 then
      level = 3
    elseif a > 100 then
      level = 2
    elseif a > 50 and b ~= 17 then
      level = 1
    else
      level = 0
    end
    if neg then level = level + 10 end
    local x = a or 5
    out[0] = big
    out[1] = small
    out[2] = level
    out[3] = x - 1000
    return level
  end),
}
