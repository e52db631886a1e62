-- The Rust struct pads with _pad0 before b.
ffi.cdef[[ struct s { uint8_t a; uint32_t b; uint8_t _pad0; }; ]]
return {
  m = bpf.map('hash', 4, 'uint32_t', 'struct s'),
  f = bpf.socket(function (skb) return 0 end),
}
