-- Not UTF-8 in a comment: café ÿþ (the file is still read)
return {
  f = bpf.socket(function (skb) return nope end),
}
