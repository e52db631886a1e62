-- A map and a program would be the same ELF symbol.
local x = bpf.map('array', 4)
return {
  f = bpf.socket(function (skb) x[0] = 1 return 0 end),
  x = bpf.socket(function (skb) return 0 end),
}
