-- `pkt` is the packet of a socket filter; a tracepoint has none.
local counts = bpf.map('hash', 16)
return {
  counts = counts,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    counts[pkt.ip.proto] = 1
  end),
}
