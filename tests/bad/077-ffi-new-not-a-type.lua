-- ffi.new needs a C type.
local counts = bpf.map('hash', 16)
return {
  counts = counts,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    local k = ffi.new(5)
    counts[ctx.id] = 1
  end),
}
