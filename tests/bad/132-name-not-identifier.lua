-- Program and map names become kernel object names and Rust identifiers.
return {
  ['bad-name'] = bpf.socket(function (skb) return 0 end),
}
