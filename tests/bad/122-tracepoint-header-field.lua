-- common_pid lives in the 8-byte record header, which the kernel hides from BPF.
return {
  prog = bpf.tracepoint('syscalls/sys_enter_getpid', function (ctx)
    if ctx.common_pid == 1 then return 1 end
    return 0
  end),
}
