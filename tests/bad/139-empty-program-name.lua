return {
  [''] = bpf.socket(function (skb) return 0 end),
}
