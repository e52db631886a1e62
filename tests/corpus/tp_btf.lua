-- BTF tracepoints: arguments by name and type from the kernel's BTF; fields behind pointer
-- arguments (and pointers in them) are read with probe-read at the build kernel's offsets.
local switches = bpf.map('hash', 4096, 'uint32_t', 'uint64_t')
local parents = bpf.map('hash', 4096, 'uint32_t', 'uint32_t')

return {
  switches = switches,
  parents = parents,
  -- sched_switch(bool preempt, struct task_struct *prev, struct task_struct *next,
  --              unsigned int prev_state)
  on_switch = bpf.tp_btf('sched_switch', function (ctx)
    local next = ctx.next
    if next.pid == 0 then return 0 end
    local n = switches[next.tgid]
    if n then xadd(n, 1) else switches[next.tgid] = 1 end
    if ctx.preempt and ctx.prev_state == 0 then
      parents[next.tgid] = next.real_parent.tgid
    end
  end),
}
