-- Self, crate and super cannot be raw identifiers (r#self is an error); _ is no name.
return {
  Self = bpf.map('array', 4),
  crate = bpf.map('array', 4),
  super = bpf.map('array', 4),
  _ = bpf.map('array', 4),
  f = bpf.socket(function (skb) return 0 end),
}
