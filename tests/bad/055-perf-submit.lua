-- perf_submit (bpf_perf_event_output) from the reference vocabulary.
local counts = bpf.map('hash', 16)
local events = bpf.map('perf_event_array')
return {
  counts = counts,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    local e = ffi.new('uint64_t[1]')
    perf_submit(events, e)
  end),
}
