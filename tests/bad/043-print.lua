-- print() (bpf_trace_printk).
local counts = bpf.map('hash', 16)
return {
  counts = counts,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    print('id %d', ctx.id)
    counts[ctx.id] = 1
  end),
}
