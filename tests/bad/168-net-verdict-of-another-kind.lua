-- A verdict constant belongs to its kind: XDP_DROP in a tc program is an error, not 1.
return {
  f = bpf.tc(function (skb) return XDP_DROP end),
}
