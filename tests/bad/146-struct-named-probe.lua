-- The bindings declare struct Probe themselves.
ffi.cdef[[ struct Probe { uint32_t a; }; ]]
return {
  m = bpf.map('hash', 4, 'uint32_t', 'struct Probe'),
  f = bpf.socket(function (skb) return 0 end),
}
