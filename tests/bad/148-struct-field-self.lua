ffi.cdef[[ struct s { uint32_t self; }; ]]
return {
  m = bpf.map('hash', 4, 'uint32_t', 'struct s'),
  f = bpf.socket(function (skb) return 0 end),
}
