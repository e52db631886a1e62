-- A perf event array cannot be read with m[k].
local counts = bpf.map('hash', 16)
local events = bpf.map('perf_event_array')
return {
  counts = counts,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    local e = events[0]
    counts[ctx.id] = 1
  end),
}
