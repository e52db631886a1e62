-- Program f makes Probe::attach_f and Probe::test_run_f.
local attach_f = bpf.map('array', 4)
return {
  f = bpf.socket(function (skb) attach_f[0] = 1 return 0 end),
  test_run_f = bpf.map('array', 4),
}
