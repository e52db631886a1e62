-- A kprobe is named by a string.
local counts = bpf.map('hash', 16)
return {
  counts = counts,
  prog = bpf.kprobe(42, function (regs)
    counts[regs.di] = 1
  end),
}
