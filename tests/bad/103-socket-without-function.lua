-- bpf.socket given only an interface.
local counts = bpf.map('hash', 16)
return {
  counts = counts,
  prog = bpf.socket('eth0'),
}
