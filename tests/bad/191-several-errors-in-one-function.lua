-- Every error of a program function is reported, not only the first: lowering goes on after an
-- error, and what depends on a failed line (`n` below) adds no errors of its own. Misspelled
-- maps, builtins and fields get a "did you mean".
local ffi = require('ffi')
local counts = bpf.map('hash', 1024, ffi.typeof('uint32_t'), ffi.typeof('uint64_t'))
return {
  counts = counts,
  on_enter = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    local n = countz[ctx.id]
    local m = counts[ctx.idd]
    local k = 1.5
    if n then xadd(n, 1) else counts[ctx.id] = 1 end
    local t = tme()
  end),
  other = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    local q = pid_tgd()
  end),
}
