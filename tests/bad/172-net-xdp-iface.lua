-- The XDP interface is a name.
return { x = bpf.xdp(42, function (ctx) return XDP_PASS end) }
