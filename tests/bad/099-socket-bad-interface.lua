-- bpf.socket's optional first argument is an interface name.
local counts = bpf.map('hash', 16)
return {
  counts = counts,
  prog = bpf.socket(3, function (skb)
    counts[skb.len] = 1
  end),
}
