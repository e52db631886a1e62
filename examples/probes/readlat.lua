-- readlat: a log2 histogram of read(2) latency, like bcc's funclatency on vfs_read, built on
-- the syscall tracepoints (this kernel has no kprobes).
--
-- sys_enter_read stores the entry time per thread (pid_tgid); sys_exit_read takes the time
-- since, in microseconds, and counts it in slot floor(log2(usecs)) of hist (slot 0 holds 0 and
-- 1 us). config[0] is the process (tgid) to trace, or 0 for every process; the Rust side
-- (src/bin/readlat.rs) sets it from --pid. A read that was already running when the probe was
-- attached has no entry time and is not counted. `ljbpf run readlat.lua` shows hist as a log2
-- histogram (the `show` options are not part of the compiled code).
local ffi = require('ffi')

local config = bpf.map('array', 1, ffi.typeof('uint32_t'), ffi.typeof('uint64_t'), { show = 'hide' })
local start = bpf.map('hash', 10240, ffi.typeof('uint64_t'), ffi.typeof('uint64_t'), { show = 'hide' })
local hist = bpf.map('array', 64, ffi.typeof('uint32_t'), ffi.typeof('uint64_t'), { show = 'log2' })

return {
  config = config,
  start = start,
  hist = hist,
  on_enter = bpf.tracepoint('syscalls/sys_enter_read', function (ctx)
    local id = pid_tgid()
    local want = config[0]
    -- The upper 32 bits of pid_tgid() are the tgid (the process id user space sees).
    if want and want ~= 0 and bit.rshift(id, 32) ~= want then return end
    start[id] = time()
  end),
  on_exit = bpf.tracepoint('syscalls/sys_exit_read', function (ctx)
    local id = pid_tgid()
    local t0 = start[id]
    if not t0 then return end
    local delta = time() - t0
    start[id] = nil
    -- math.log2 of a uint64 is at most 63: always a slot of hist.
    xadd(hist[math.log2(delta / 1000)], 1)
  end),
}
