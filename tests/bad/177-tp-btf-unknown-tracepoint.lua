-- A misspelt BTF tracepoint: the closest names are suggested.
return {
  prog = bpf.tp_btf('sched_swich', function (ctx) return 0 end),
}
