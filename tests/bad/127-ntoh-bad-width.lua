-- ntoh swaps 16, 32 or 64 bits.
return {
  prog = bpf.socket(function (skb)
    return ntoh(pkt.type, 12)
  end),
}
