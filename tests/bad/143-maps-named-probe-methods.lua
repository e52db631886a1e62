return {
  attach_all = bpf.map('array', 4),
  inner = bpf.map('array', 4),
  f = bpf.socket(function (skb) return 0 end),
}
