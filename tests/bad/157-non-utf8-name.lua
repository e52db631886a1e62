return {
  ['caf\233'] = bpf.socket(function (skb) return 0 end),
}
