-- No path leaves this loop: the verifier would reject it, so the compiler does.
return {
  prog = bpf.socket(function (skb)
    local n = 0
    while true do n = n + 1 end
  end),
}
