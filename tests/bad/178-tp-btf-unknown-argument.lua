-- sched_switch's arguments are preempt, prev, next, prev_state: `pid` is a field of prev/next.
local seen = bpf.map('array', 1)
return {
  prog = bpf.tp_btf('sched_switch', function (ctx)
    seen[0] = ctx.pid
  end),
}
