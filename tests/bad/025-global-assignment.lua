-- Assigning to a global inside a program.
local counts = bpf.map('hash', 16)
return {
  counts = counts,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    last_id = ctx.id
    counts[ctx.id] = 1
  end),
}
