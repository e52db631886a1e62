-- math.log2 takes a number.
return {
  prog = bpf.socket(function (skb)
    return math.log2(pkt.ip.ttl > 3)
  end),
}
