-- A loop bounded by a packet byte that counts matching bytes, then array reads at indexes read
-- from the packet. The verifier must know those indexes exactly, and tracks back where they
-- came from; it cannot track back through a packet load (LD_ABS) and would then treat every
-- value as exact, verifying each history of the loop (how many bytes matched) on its own
-- through the rest of the program. ljbpf reloads those bytes from the stack, where the verifier
-- stops tracking back. The loop compares its run-time limit with the counter (Linux 6.1
-- decides a compare of a range with a constant only when the constant is the second operand).
-- Linux 6.1 takes about 2,800 instructions, 6.12 and 6.18 about 1,400.
local ffi = require('ffi')
ffi.cdef[[
struct rec { uint32_t x; int16_t h; };
struct val { uint32_t s[5]; struct rec r[2]; };
]]
local g = bpf.map('array', 1, 'uint32_t', 'struct val')
local out = bpf.map('array', 4, 'uint32_t', 'uint64_t')
return { g = g, out = out, p = bpf.socket(function (skb)
  local G = g[0]
  if not G then return 0 end
  local n, sum, hits = 0, 0, 0
  for i = 0, pkt[41] % 16 do
    local b = pkt[i + 14]
    sum = sum + b
    n = n + sum
    if b == 65 then hits = hits + 1 end
  end
  out[1] = sum + n * 3 + hits * 1000
  if pkt[23] == 6 then
    out[2] = G.r[G.r[pkt[47] % 2].h % 2].x + G.s[pkt[22] % 5]
  else
    out[2] = G.s[pkt[30] % 5] + G.s[pkt[31] % 5]
  end
  return hits
end) }
