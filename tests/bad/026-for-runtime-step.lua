-- The step of a numeric for loop must be a constant (its sign decides the test).
return {
  prog = bpf.socket(function (skb)
    local step = pkt.ip.ttl
    local s = 0
    for i = 1, 100, step do s = s + i end
    return s
  end),
}
