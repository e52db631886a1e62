-- Loops a counter bounds (`k` from a constant, stepped by a constant, compared with one): the
-- byte they halve and triple keeps no mask (the verifier need not know its range), and its
-- `/ 2` is a shift the verifier cannot follow (a plain shift would give it one state per
-- history of halvings). In tc the byte's range comes with the direct read; `long` runs 200
-- times. `halving` has no counter: its halving is what ends the loop, and the verifier must
-- follow that shift exactly (with the division it found the same unknown state again and
-- reported an infinite loop).
return {
  up = bpf.socket(function (skb)
    local n, k = pkt.ip.ttl, 0
    while n > 1 and k < 64 do
      if n % 2 == 1 then n = 3 * n + 1 else n = n / 2 end
      k = k + 1
    end
    return k
  end),
  down = bpf.socket(function (skb)
    local n, k = pkt.ip.tos, 32
    while n > 1 and k > 0 do
      if n % 2 == 0 then n = n / 2 else n = 3 * n + 1 end
      k = k - 1
    end
    return k
  end),
  long = bpf.socket(function (skb)
    local n, k = pkt.ip.ttl, 0
    while n > 1 and k < 200 do
      if n % 2 == 0 then n = n / 2 else n = 3 * n + 1 end
      k = k + 1
    end
    return k
  end),
  direct = bpf.tc(function (skb)
    local n, k = pkt.ip.ttl, 0
    while n > 1 and k < 64 do
      if n % 2 == 0 then n = n / 2 else n = 3 * n + 1 end
      k = k + 1
    end
    return k
  end),
  halving = bpf.socket(function (skb)
    local n, k = pkt.ip.ttl, 0
    while n > 1 do
      if n % 2 == 0 then n = n / 2 else n = n - 1 end
      k = k + 1
    end
    return k
  end),
}
