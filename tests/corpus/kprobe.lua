-- A kprobe counter (this kernel has no kprobes: verifier-load only) reading pt_regs aliases.
local hits = bpf.map('hash', 128, ffi.typeof('uint64_t'), ffi.typeof('uint64_t'))
return {
  hits = hits,
  on_open = bpf.kprobe('myprobe:do_sys_openat2', function (ptregs)
    local flags = ptregs.parm3
    local v = hits[flags]
    if v then xadd(v, 1) else hits[flags] = 1 end
  end),
  on_ret = bpf.kprobe('do_sys_openat2', function (ptregs)
    if ptregs.ret < 0 then return 1 end
    return 0
  end, true),
}
