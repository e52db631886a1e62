-- bpf_trace_printk takes a format and at most three values.
return {
  prog = bpf.tracepoint('syscalls/sys_enter_getpid', function (ctx)
    print('%d %d %d %d\n', 1, 2, 3, 4)
  end),
}
