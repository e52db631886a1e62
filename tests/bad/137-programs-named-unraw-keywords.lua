-- Program names are refused by the same rule as map names.
return {
  self = bpf.socket(function (skb) return 0 end),
  super = bpf.socket(function (skb) return 0 end),
}
