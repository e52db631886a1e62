-- A non-UTF-8 byte in a C declaration and in a map's upvalue name: errors at their lines
-- (found by the fuzzer: an internal error while reading declarations).
ffi.cdef[[ struct call_t { uint32_t Èid; uint32_t cpu; }; ]]
local sta”ks = bpf.map('hash', 16)
return {
  f = bpf.socket(function (skb) sta”ks[1] = 2 end),
}
