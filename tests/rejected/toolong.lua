-- A probe that compiles but that the verifier rejects after writing megabytes of log: a loop
-- whose bound comes from a map, which the verifier walks until its limit of jumps. The
-- `rejected_main` binary loads it through `?` in `main`, as the README shows, and
-- tests/runtime_errors.rs checks how short the report is.
local ffi = require('ffi')
local limit = bpf.map('array', 1, ffi.typeof('uint32_t'), ffi.typeof('uint64_t'))
local total = bpf.map('array', 1, ffi.typeof('uint32_t'), ffi.typeof('uint64_t'))

return {
  limit = limit,
  total = total,
  spin = bpf.tracepoint('syscalls/sys_enter_getppid', function (ctx)
    local n = limit[0]
    if n then
      local i = 0
      local s = 0
      while i < n do
        s = s + i
        i = i + 1
      end
      total[0] = s
    end
  end),
}
