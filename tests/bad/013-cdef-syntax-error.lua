-- A C syntax error inside ffi.cdef: the semicolon after `pid` is missing.
local ffi = require('ffi')
ffi.cdef[[
struct key_t {
  uint32_t pid
  uint32_t cpu;
};
]]
local counts = bpf.map('hash', 16, 'struct key_t', 'uint64_t')
return {
  counts = counts,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    local k = ffi.new('struct key_t')
    counts[k] = 1
  end),
}
