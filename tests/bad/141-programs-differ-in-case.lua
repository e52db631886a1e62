-- Both would be the static INSNS_FOO.
return {
  foo = bpf.socket(function (skb) return 0 end),
  FOO = bpf.socket(function (skb) return 0 end),
}
