-- A non-UTF-8 byte in a map's upvalue name: an error at its line, not an internal error.
local sta”ks = bpf.map('hash', 16)
return {
  f = bpf.socket(function (skb) sta”ks[1] = 2 end),
}
