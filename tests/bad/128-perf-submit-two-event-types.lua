-- One perf buffer carries one event type (the bindings decode it).
local events = bpf.map('perf_event_array')
return {
  events = events,
  prog = bpf.tracepoint('syscalls/sys_enter_getpid', function (ctx)
    local a = ffi.new('uint64_t[1]')
    local b = ffi.new('uint32_t[2]')
    perf_submit(events, a)
    perf_submit(events, b)
  end),
}
