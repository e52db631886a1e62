-- A Lua syntax error: the `then` is missing.
local counts = bpf.map('hash', 16)
return {
  counts = counts,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    if ctx.id == 1
      counts[ctx.id] = 1
    end
  end),
}
