-- ffi.cast to an undeclared type.
local counts = bpf.map('hash', 16)
return {
  counts = counts,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    local p = ffi.cast('struct task_struct *', ctx.id)
    counts[ctx.id] = 1
  end),
}
