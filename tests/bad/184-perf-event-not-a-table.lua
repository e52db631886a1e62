-- The event is described by a table.
return {
  prog = bpf.perf_event('cpu_clock', function (ctx) return 0 end),
}
