-- bpf_perf_event_data has the registers by name, sample_period and addr: no `regs`.
local seen = bpf.map('array', 1, 'uint32_t', 'uint64_t')
return {
  prog = bpf.perf_event({ frequency = 49 }, function (ctx)
    seen[0] = ctx.regs
  end),
}
