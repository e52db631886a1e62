-- A top-level string used in arithmetic.
local counts = bpf.map('hash', 16)
local name = 'open'
return {
  counts = counts,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    counts[ctx.id] = ctx.id + name
  end),
}
