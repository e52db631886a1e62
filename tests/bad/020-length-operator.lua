-- `#` (length) has no meaning on program values.
local counts = bpf.map('hash', 16)
return {
  counts = counts,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    local buf = ffi.new('char[16]')
    comm(buf)
    counts[ctx.id] = #buf
  end),
}
