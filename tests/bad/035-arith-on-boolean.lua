-- Booleans are not numbers in Lua.
local counts = bpf.map('hash', 16)
return {
  counts = counts,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    local big = ctx.id > 100
    counts[ctx.id] = big + 1
  end),
}
