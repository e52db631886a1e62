-- A uprobe is named `path:symbol`.
local counts = bpf.map('hash', 16)
return {
  counts = counts,
  prog = bpf.uprobe('/bin/bash', function (regs)
    counts[regs.di] = 1
  end),
}
