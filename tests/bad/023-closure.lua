-- A function defined inside a program function.
local counts = bpf.map('hash', 16)
return {
  counts = counts,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    local function bump(k)
      counts[k] = 1
    end
    bump(ctx.id)
  end),
}
