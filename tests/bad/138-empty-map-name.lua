-- An empty key is not "no name".
return {
  [''] = bpf.map('array', 4),
  f = bpf.socket(function (skb) return 0 end),
}
