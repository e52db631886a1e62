-- ffi.sizeof of an undeclared type.
local counts = bpf.map('hash', 16)
return {
  counts = counts,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    counts[ctx.id] = ffi.sizeof('struct nope_t')
  end),
}
