-- A non-UTF-8 byte in a C declaration: an error at its line, which ends the top level as in
-- LuaJIT (found by the fuzzer); 170 has the upvalue name alone.
ffi.cdef[[ struct call_t { uint32_t Èid; uint32_t cpu; }; ]]
local sta”ks = bpf.map('hash', 16)
return {
  f = bpf.socket(function (skb) sta”ks[1] = 2 end),
}
