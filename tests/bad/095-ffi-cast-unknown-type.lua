-- Reading through a pointer to a struct no ffi.cdef declares.
local counts = bpf.map('hash', 16)
return {
  counts = counts,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    local p = ffi.cast('struct task_struct *', ctx.args[0])
    counts[p.pid] = 1
  end),
}
