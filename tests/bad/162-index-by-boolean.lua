-- An array indexed by a boolean (an error in LuaJIT too).
return {
  prog = bpf.socket(function (skb)
    local a = ffi.new('uint32_t[4]')
    local i = pkt.ip.ttl > 3
    return a[i]
  end),
}
