-- Events through a perf buffer and a ring buffer, stack ids (syscalls/sys_enter_getppid).
ffi.cdef[[ struct call_t { uint32_t pid; uint32_t cpu; uint64_t ts; char comm[16]; }; ]]
local events = bpf.map('perf_event_array')
local ring = bpf.map('ringbuf', 65536)
local stacks = bpf.map('stack_trace', 256)
local stack_counts = bpf.map('hash', 256, 'int32_t', 'uint64_t')
return {
  events = events,
  ring = ring,
  stacks = stacks,
  stack_counts = stack_counts,
  on_getppid = bpf.tracepoint('syscalls/sys_enter_getppid', function (ctx)
    local e = ffi.new('struct call_t', pid_tgid() >> 32, cpu(), time())
    comm(e.comm)
    perf_submit(events, e)
    ringbuf_output(ring, e)
    local id = stack_id(stacks, 0)
    if id >= 0 then
      local n = stack_counts[id]
      if n then xadd(n, 1) else stack_counts[id] = 1 end
    end
  end),
}
