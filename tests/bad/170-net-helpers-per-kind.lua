-- redirect_map is XDP's only; redirect is XDP's and tc's; XDP has no skb.
local tx = bpf.map('devmap', 4)
return {
  f = bpf.tc(function (skb) return redirect_map(tx, 0, 0) end),
  g = bpf.socket(function (skb) return redirect(1, 0) end),
  h = bpf.xdp(function (ctx) return skb.len end),
  i = bpf.xdp(function (ctx) return ctx.data end),
}
