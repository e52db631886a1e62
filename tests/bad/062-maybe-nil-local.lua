-- A local that is nil on one path and a number on the other.
local counts = bpf.map('hash', 16)
return {
  counts = counts,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    local x
    if ctx.id > 10 then
      x = 1
    end
    counts[ctx.id] = x + 1
  end),
}
