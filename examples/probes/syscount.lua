-- syscount: counts system calls per syscall number, like bcc's syscount.
--
-- Every syscall entry fires raw_syscalls/sys_enter; ctx.id is the syscall number. The Rust side
-- (src/bin/syscount.rs) writes the process to trace into config[0] before attaching: a tgid,
-- or 0 for every process. The `show` options say how `ljbpf run syscount.lua` shows the maps
-- (they are not part of the compiled code).
local ffi = require('ffi')

local config = bpf.map('array', 1, ffi.typeof('uint32_t'), ffi.typeof('uint64_t'), { show = 'hide' })
local counts = bpf.map('hash', 1024, ffi.typeof('uint32_t'), ffi.typeof('uint64_t'), { show = 'syscalls' })

return {
  config = config,
  counts = counts,
  on_enter = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    local want = config[0]
    if want then
      if want ~= 0 then
        -- The upper 32 bits of pid_tgid() are the tgid (the process id user space sees).
        if bit.rshift(pid_tgid(), 32) ~= want then
          return
        end
      end
    end
    local n = counts[ctx.id]
    if n then
      xadd(n, 1)
    else
      counts[ctx.id] = 1
    end
  end),
}
