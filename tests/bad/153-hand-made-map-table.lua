-- Map id 0 once underflowed the compiler's index.
return {
  m = { __ljbpf = 'map', id = 0, kind = 'array', key = 'uint32_t', val = 'uint32_t' },
  f = bpf.socket(function (skb) return 0 end),
}
