-- A packet slice with run-time bounds kept across a branch, then compared.
return {
  prog = bpf.socket(function (skb)
    local i = pkt.ip.ttl
    local s = pkt(i, i + 2)
    if i > 4 then i = 0 end
    if s == 'ab' then return 1 end
    return 0
  end),
}
