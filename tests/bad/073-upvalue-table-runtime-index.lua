-- A top-level Lua table can only be indexed by constants.
local counts = bpf.map('hash', 16)
local limits = { 10, 20, 30 }
return {
  counts = counts,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    counts[ctx.id] = limits[ctx.id]
  end),
}
