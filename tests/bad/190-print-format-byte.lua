return {
  p = bpf.socket(function (skb)
    print('caf\233 %d', 1)
    return 0
  end),
}
