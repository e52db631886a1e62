-- Fork tracing: the child's pid and its parent's, keyed by the child. sched_process_fork's
-- fields moved between kernels (child_pid is at 44 on Linux 6.1 and at 20 on 6.18): the loader
-- moves these reads to the loading kernel's layout.
local ffi = require('ffi')
local parents = bpf.map('hash', 4096, ffi.typeof('int32_t'), ffi.typeof('int32_t'))

return {
  parents = parents,
  on_fork = bpf.tracepoint('sched/sched_process_fork', function (ctx)
    parents[ctx.child_pid] = ctx.parent_pid
  end),
}
