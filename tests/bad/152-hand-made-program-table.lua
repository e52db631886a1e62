-- Looks like a program declaration, has no function: not one.
return {
  p = { __ljbpf = 'program', kind = 'socket', line = 3 },
  f = bpf.socket(function (skb) return 0 end),
}
