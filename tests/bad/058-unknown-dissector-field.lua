-- The ip dissector has `ttl`, not `hops`.
local counts = bpf.map('hash', 16)
return {
  counts = counts,
  prog = bpf.socket(function (skb)
    counts[pkt.ip.hops] = 1
  end),
}
