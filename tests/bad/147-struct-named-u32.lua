-- A struct u32 would change every u32 of the bindings.
ffi.cdef[[ struct u32 { uint32_t a; }; ]]
return {
  m = bpf.map('hash', 4, 'uint32_t', 'struct u32'),
  f = bpf.socket(function (skb) return 0 end),
}
