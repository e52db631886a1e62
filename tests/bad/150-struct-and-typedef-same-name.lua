-- struct a and the typedef a of another struct would both be the Rust struct a.
ffi.cdef[[ struct a { uint32_t x; }; typedef struct { uint64_t y; } a; ]]
return {
  m = bpf.map('hash', 4, 'struct a', 'a'),
  f = bpf.socket(function (skb) return 0 end),
}
