-- ffi.new of a struct that was never declared.
local counts = bpf.map('hash', 16)
return {
  counts = counts,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    local e = ffi.new('struct event_t')
    counts[ctx.id] = 1
  end),
}
