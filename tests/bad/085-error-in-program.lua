-- error() inside a program function.
local counts = bpf.map('hash', 16)
return {
  counts = counts,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    if ctx.id == 0 then
      error('bad id')
    end
    counts[ctx.id] = 1
  end),
}
