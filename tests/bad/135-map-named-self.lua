-- A map named after the local holding it: `self` cannot be a Rust method name, even raw.
local self = bpf.map('array', 4)
return {
  f = bpf.socket(function (skb) self[0] = 1 return 0 end),
}
