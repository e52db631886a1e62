-- Numeric for loops count with numbers.
return {
  prog = bpf.socket(function (skb)
    local s = 0
    for i = 1, 10LL do s = s + 1 end
    return s
  end),
}
