-- The benchmark's compute-heavy socket filter: a Fletcher-style running sum and a count of the
-- byte 'A' over the first 64 bytes of the UDP payload (a bounded loop; shorter packets abort
-- the program, which returns 0). C twin: bench/c/csum.c.
return {
  csum = bpf.socket(function (skb)
    local data = pkt.ip.udp.data
    local s1, s2, n = 0, 0, 0
    for i = 0, 63 do
      local b = data[i]
      s1 = s1 + b
      s2 = s2 + s1
      if b == 0x41 then n = n + 1 end
    end
    return s1 + s2 + n * 1000000
  end),
}
