-- offcputime: total time tasks spent off CPU, by kernel and user stack, like bcc's offcputime.
--
-- sched/sched_switch fires in the scheduler while the task giving up the CPU (prev) is still
-- the current task. So at switch-out the probe records, for prev's thread id: the time, prev's
-- kernel and user stacks (bpf_get_stackid of the current task: where it blocked) and its comm.
-- When that thread is switched back in (it is next_pid of a later sched_switch), the probe adds
-- the time it was away, in microseconds, to `counts` under {pid, tgid, stacks, comm}.
--
-- The Rust side (src/bin/offcputime.rs) writes config[0] = the tgid to trace (0: every process)
-- and config[1] = the shortest off-CPU interval to count, in microseconds, before attaching.
-- `ljbpf run offcputime.lua` shows counts with its stacks symbolised (show = 'stacks'); the
-- `show` options are not part of the compiled code.
local ffi = require('ffi')

ffi.cdef[[
struct offcpu_key_t {
  uint32_t pid;             /* thread id */
  uint32_t tgid;            /* process id */
  int32_t user_stack_id;    /* negative: no user stack (kernel threads) */
  int32_t kernel_stack_id;
  char name[16];
};
struct offcpu_start_t {
  uint64_t ts;              /* bpf_ktime_get_ns() at switch-out */
  struct offcpu_key_t key;
};
]]

local config = bpf.map('array', 2, ffi.typeof('uint32_t'), ffi.typeof('uint64_t'), { show = 'hide' })
local start = bpf.map('hash', 10240, ffi.typeof('uint32_t'), ffi.typeof('struct offcpu_start_t'),
                      { show = 'hide' })
local stacks = bpf.map('stack_trace', 16384)
local counts = bpf.map('hash', 10240, ffi.typeof('struct offcpu_key_t'), ffi.typeof('uint64_t'),
                       { show = 'stacks' })

return {
  config = config,
  start = start,
  stacks = stacks,
  counts = counts,
  on_switch = bpf.tracepoint('sched/sched_switch', function (ctx)
    -- Switch-out: prev is the current task. pid 0 is the idle task of every CPU: skip it.
    local prev = ctx.prev_pid
    if prev ~= 0 then
      local tgid = pid_tgid() >> 32
      local want = config[0]
      if want and (want == 0 or want == tgid) then
        local s = ffi.new('struct offcpu_start_t')
        s.ts = time()
        s.key.pid = prev
        s.key.tgid = tgid
        s.key.kernel_stack_id = stack_id(stacks, 0)
        s.key.user_stack_id = stack_id(stacks, BPF.F_USER_STACK)
        comm(s.key.name)
        start[prev] = s
      end
    end

    -- Switch-in: next comes back; count how long it was away.
    local next = ctx.next_pid
    local s = start[next]
    if s then
      local us = (time() - s.ts) / 1000
      local min = config[1]
      if not min or us >= min then
        local key = ffi.new('struct offcpu_key_t')
        key.pid = s.key.pid
        key.tgid = s.key.tgid
        key.user_stack_id = s.key.user_stack_id
        key.kernel_stack_id = s.key.kernel_stack_id
        -- The comm, byte by byte (see the note at the top of the file).
        local to, from = key.name, s.key.name
        to[0], to[1], to[2], to[3] = from[0], from[1], from[2], from[3]
        to[4], to[5], to[6], to[7] = from[4], from[5], from[6], from[7]
        to[8], to[9], to[10], to[11] = from[8], from[9], from[10], from[11]
        to[12], to[13], to[14], to[15] = from[12], from[13], from[14], from[15]
        local n = counts[key]
        if n then
          xadd(n, us)
        else
          counts[key] = us
        end
      end
      start[next] = nil
    end
  end),
}
