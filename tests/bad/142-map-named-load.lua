-- Probe::load is the generated loader.
return {
  load = bpf.map('array', 4),
  f = bpf.socket(function (skb) return 0 end),
}
