-- A run-time index into an array of unknown length: no bound to check.
local ffi = require('ffi')
ffi.cdef[[ struct msg_t { uint32_t n; uint8_t data[0]; }; ]]
local msgs = bpf.map('array', 1, 'uint32_t', 'struct msg_t')
return {
  msgs = msgs,
  prog = bpf.socket(function (skb)
    local v = msgs[0]
    if v then return v.data[pkt.ip.ttl] end
    return 0
  end),
}
