-- struct pt_regs has no `arg1`: the names are di, si, ... or parm1..parm5.
local counts = bpf.map('hash', 16)
return {
  counts = counts,
  prog = bpf.kprobe('do_sys_open', function (regs)
    counts[regs.arg1] = 1
  end),
}
