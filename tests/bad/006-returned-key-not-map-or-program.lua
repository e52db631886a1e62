-- A returned key holds neither a map nor a program.
local counts = bpf.map('hash', 16)
return {
  counts = counts,
  limit = 10,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    counts[ctx.id] = 1
  end),
}
