-- Maps hold nothing at build time: they can only be indexed in programs.
local counts = bpf.map('hash', 16)
local initial = counts[1]
return {
  counts = counts,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    counts[ctx.id] = 1
  end),
}
