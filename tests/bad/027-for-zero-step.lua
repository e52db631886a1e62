-- A zero step never ends.
return {
  prog = bpf.socket(function (skb)
    local s = 0
    for i = 1, 10, 0 do s = s + i end
    return s
  end),
}
