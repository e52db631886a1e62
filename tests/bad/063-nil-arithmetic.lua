-- Arithmetic on a nil local.
local counts = bpf.map('hash', 16)
return {
  counts = counts,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    local x = nil
    counts[ctx.id] = x + 1
  end),
}
