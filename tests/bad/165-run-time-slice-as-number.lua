-- A packet slice with run-time bounds read as a number: only string compares.
return {
  prog = bpf.socket(function (skb)
    local i = pkt.ip.ttl
    return pkt(i, i + 2) + 1
  end),
}
