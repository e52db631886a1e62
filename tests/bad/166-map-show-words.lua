-- How `ljbpf run` shows a map: a word it does not know, and a word that does not fit the
-- map's kind, each an error at the map's line with the words that fit.
local hist = bpf.map('array', 64, 'uint32_t', 'uint64_t', { show = 'histogram' })
local events = bpf.map('ringbuf', 4096, 'uint32_t', 'uint32_t', { show = 'log2' })
return {
  hist = hist,
  events = events,
  f = bpf.socket(function (skb) xadd(hist[1], 1) end),
}
