-- Array maps are indexed by uint32_t.
local m = bpf.map('array', 4, 'uint64_t', 'uint64_t')
return {
  m = m,
  prog = bpf.socket(function (skb) return 0 end),
}
