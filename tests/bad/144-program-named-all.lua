-- A program `all` would make Probe::attach_all, which loads every program.
return {
  all = bpf.socket(function (skb) return 0 end),
}
