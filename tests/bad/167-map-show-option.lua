-- The 5th argument of bpf.map is a table of display options whose only key is `show`: a
-- misspelled key is an error, not silently ignored.
local counts = bpf.map('hash', 64, 'uint32_t', 'uint64_t', { shwo = 'log2' })
return {
  counts = counts,
  f = bpf.socket(function (skb) counts[1] = 1 end),
}
