-- Software event names are the kernel's (perf_sw_ids) in lower case.
return {
  prog = bpf.perf_event({ type = 'software', config = 'cpu_clok' }, function (ctx) return 0 end),
}
