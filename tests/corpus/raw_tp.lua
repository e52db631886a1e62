-- Raw tracepoints: the tracepoint's arguments by position, as uint64 (ctx.arg0, ctx.arg1, ...).
local ffi = require('ffi')
local by_id = bpf.map('hash', 512, 'uint64_t', 'uint64_t')
local exits = bpf.map('array', 1, 'uint32_t', 'uint64_t')

return {
  by_id = by_id,
  exits = exits,
  -- sys_enter(struct pt_regs *regs, long id)
  on_enter = bpf.raw_tracepoint('sys_enter', function (ctx)
    local n = by_id[ctx.arg1]
    if n then xadd(n, 1) else by_id[ctx.arg1] = 1 end
  end),
  -- sched_process_exit(struct task_struct *p): a raw pointer, read with ffi.cast
  on_exit = bpf.raw_tracepoint('sched_process_exit', function (ctx)
    if ctx.arg0 ~= 0 then xadd(exits[0], 1) end
  end),
}
