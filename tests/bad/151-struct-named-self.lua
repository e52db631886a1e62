ffi.cdef[[ struct Self { uint32_t x; }; ]]
return {
  m = bpf.map('hash', 4, 'uint32_t', 'struct Self'),
  f = bpf.socket(function (skb) return 0 end),
}
