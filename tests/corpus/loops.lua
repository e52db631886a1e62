-- Numeric for (up and down), while with a packet-dependent bound, repeat, break.
local out = bpf.map('array', 4, 'uint32_t', 'uint64_t')
return { out = out, p = bpf.socket(function (skb)
  local s = 0
  for i = 1, 10 do s = s + i end
  for i = 10, 1, -3 do s = s + i * 100 end
  local n = pkt.ip.ttl
  local k = 0
  while n > 1 and k < 64 do
    if n % 2 == 0 then n = n / 2 else n = 3 * n + 1 end
    k = k + 1
  end
  local j = 0
  repeat j = j + 2 until j >= 8
  out[0] = s
  out[1] = k
  return s + j
end) }
