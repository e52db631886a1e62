-- Names that are Rust keywords but may be raw identifiers, compiled into the tests crate by
-- build.rs (tests/src/names.rs includes the bindings): they must compile. Bytes that are not
-- UTF-8 in this comment (café ÿ) must not stop the file either.
ffi.cdef[[
  struct fn { uint32_t type; uint32_t match; uint64_t gen; };
  struct impl { uint8_t r; uint32_t async; };
]]
local match = bpf.map('hash', 16, 'struct fn', 'struct impl')
local gen = bpf.map('array', 4, 'uint32_t', 'uint64_t')
return {
  type = bpf.map('hash', 16, 'uint32_t', 'struct fn'),
  ['loop'] = bpf.socket(function (skb)
    local k = ffi.new('struct fn')
    local v = match[k]
    if v then return v.async end
    print('cafe %d', 1)
    return 0
  end),
  try = bpf.socket(function (skb) gen[1] = 2 return 0 end),
  impl = bpf.socket(function (skb) return 1 end),
}
