-- ffi.typeof of an undeclared struct at the top level.
local ffi = require('ffi')
local counts = bpf.map('hash', 16, ffi.typeof('uint32_t'), ffi.typeof('struct nothing_t'))
return {
  counts = counts,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    counts[ctx.id] = nil
  end),
}
