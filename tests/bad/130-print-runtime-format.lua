-- The format of print must be a constant string (it is copied to the stack at compile time).
return {
  prog = bpf.socket(function (skb)
    local fmt = 'x'
    if pkt.ip.ttl > 3 then fmt = 'y' end
    print(fmt)
    return 0
  end),
}
