-- struct __sk_buff has no field `length`.
local counts = bpf.map('hash', 16)
return {
  counts = counts,
  prog = bpf.socket(function (skb)
    counts[skb.length] = 1
  end),
}
