-- profile: samples what every CPU is running at a fixed frequency, by user and kernel stack,
-- like bcc's profile.
--
-- A perf event on the software CPU clock fires on every CPU (the Rust side opens one per CPU,
-- at the frequency given with --frequency) in whatever task is running there; the probe counts
-- the sample under {tgid, kernel stack, user stack, comm}. The idle task (tgid 0) is skipped,
-- as bcc does by default.
--
-- The Rust side (src/bin/profile.rs) writes config[0] = the tgid to sample (0: every process)
-- before attaching.
local ffi = require('ffi')

ffi.cdef[[
struct profile_key_t {
  uint32_t tgid;
  int32_t user_stack_id;    /* negative: no user stack (a kernel thread) or none recorded */
  int32_t kernel_stack_id;  /* negative: the sample hit user mode */
  char name[16];
};
]]

local config = bpf.map('array', 1, ffi.typeof('uint32_t'), ffi.typeof('uint32_t'))
local stacks = bpf.map('stack_trace', 16384)
local counts = bpf.map('hash', 40960, ffi.typeof('struct profile_key_t'), ffi.typeof('uint64_t'))

return {
  config = config,
  stacks = stacks,
  counts = counts,
  on_sample = bpf.perf_event({ type = 'software', config = 'cpu_clock', frequency = 49 },
    function (ctx)
      local tgid = pid_tgid() >> 32
      if tgid == 0 then return 0 end
      local want = config[0]
      if want and want ~= 0 and want ~= tgid then return 0 end
      local key = ffi.new('struct profile_key_t')
      key.tgid = tgid
      key.kernel_stack_id = stack_id(stacks, 0)
      key.user_stack_id = stack_id(stacks, BPF.F_USER_STACK)
      comm(key.name)
      local n = counts[key]
      if n then xadd(n, 1) else counts[key] = 1 end
    end),
}
