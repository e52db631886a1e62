-- A perf event array cannot be assigned with m[k] = v; use perf_submit.
local counts = bpf.map('hash', 16)
local events = bpf.map('perf_event_array')
return {
  counts = counts,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    events[0] = ctx.id
    counts[ctx.id] = 1
  end),
}
