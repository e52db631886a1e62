-- A map type the kernel does not have.
local counts = bpf.map('hashmap', 16)
return {
  counts = counts,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    counts[ctx.id] = 1
  end),
}
