-- Fork tracing: each child's parent and comm, keyed by the child. sched_process_fork's layout
-- differs between kernels (child_pid is at 44 on Linux 6.1 and at 20 on 6.18; the comms are
-- char[16] arrays before 6.10 and __data_loc strings after): the loader moves these reads to
-- the loading kernel's layout.
local ffi = require('ffi')
ffi.cdef[[ struct fork_t { int32_t parent; char comm[16]; }; ]]
local forks = bpf.map('hash', 4096, ffi.typeof('int32_t'), ffi.typeof('struct fork_t'))

return {
  forks = forks,
  on_fork = bpf.tracepoint('sched/sched_process_fork', function (ctx)
    local f = ffi.new('struct fork_t')
    f.parent = ctx.parent_pid
    ffi.copy(f.comm, ctx.child_comm)
    forks[ctx.child_pid] = f
  end),
}
