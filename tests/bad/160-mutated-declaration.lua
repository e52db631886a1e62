-- Changing a declaration's table after the fact changes nothing the compiler reads.
local p = bpf.socket(function (skb) return 0 end)
p.fn = nil
p.line = 'x'
p.kind = 'nonsense'
return {
  p = p,
  q = 42,
}
