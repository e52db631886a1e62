-- An element at a run-time index where an address is needed: it has none valid on every path.
local ffi = require('ffi')
ffi.cdef[[ struct rec_t { char name[16]; }; ]]
return {
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    local recs = ffi.new('struct rec_t[4]')
    comm(recs[ctx.id % 4].name)
  end),
}
