-- A raw tracepoint is named without its category.
return {
  prog = bpf.raw_tracepoint('sched/sched_switch', function (ctx) return 0 end),
}
