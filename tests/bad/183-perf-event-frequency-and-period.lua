-- A perf event samples at a frequency or every N events, not both.
return {
  prog = bpf.perf_event({ config = 'cpu_clock', frequency = 99, period = 1000 },
    function (ctx) return 0 end),
}
