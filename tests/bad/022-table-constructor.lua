-- Lua tables do not exist in BPF.
local counts = bpf.map('hash', 16)
return {
  counts = counts,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    local t = {}
    t[1] = ctx.id
    counts[ctx.id] = 1
  end),
}
