-- load_bytes reads packet bytes: socket filters only.
local counts = bpf.map('hash', 16)
return {
  counts = counts,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    local b = ffi.new('uint32_t[1]')
    load_bytes(0, b)
    counts[ctx.id] = 1
  end),
}
