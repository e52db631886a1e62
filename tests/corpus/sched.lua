-- sched/sched_switch: char arrays, int fields, comm() into a stack buffer, percpu_array.
ffi.cdef[[ struct ev_t { char comm[16]; int32_t prev_pid; int32_t next_pid; int64_t prio; }; ]]
local switches = bpf.map('percpu_array', 1, ffi.typeof('uint32_t'), ffi.typeof('uint64_t'))
local last = bpf.map('array', 1, ffi.typeof('uint32_t'), 'struct ev_t')
return {
  switches = switches,
  last = last,
  on_switch = bpf.tracepoint('sched/sched_switch', function (ctx)
    local n = switches[0]
    if n then xadd(n, 1) end
    local e = ffi.new('struct ev_t')
    comm(e.comm)
    e.prev_pid = ctx.prev_pid
    e.next_pid = ctx.next_pid
    e.prio = ctx.prev_prio - ctx.next_prio
    if ctx.prev_comm[0] == 0 then return end
    last[0] = e
  end),
}
