-- Not UTF-8 inside a string used as a name: ÿ
return {
  f = bpf.socket(function (skb) return skb['lÿn'] end),
}
