-- A backward goto is a loop.
return {
  prog = bpf.socket(function (skb)
    local n = pkt.ip.ttl
    ::again::
    n = n - 1
    if n > 0 then goto again end
    return n
  end),
}
