-- Calling a Lua function of the file from a program.
local counts = bpf.map('hash', 16)
local function helper(x) return x * 2 end
return {
  counts = counts,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    counts[ctx.id] = helper(ctx.id)
  end),
}
