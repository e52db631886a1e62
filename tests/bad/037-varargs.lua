-- A program function takes its context, not varargs.
local counts = bpf.map('hash', 16)
return {
  counts = counts,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (...)
    local ctx = ...
    counts[ctx.id] = 1
  end),
}
