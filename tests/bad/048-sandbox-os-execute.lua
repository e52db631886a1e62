-- The build-time sandbox has no os.execute.
os.execute('touch /tmp/ljbpf-pwned')
local counts = bpf.map('hash', 16)
return {
  counts = counts,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    counts[ctx.id] = 1
  end),
}
