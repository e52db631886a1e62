-- bashreadline: prints the commands typed into bash, like bcc's bashreadline.
--
-- A uretprobe on /bin/bash's readline() sees the line it is about to return: ptregs.ret (ax) is
-- a `char *` into bash's memory. The probe copies that string (probe-read of user memory, up to
-- 79 bytes and a NUL) into an event with the process id and a timestamp and sends it through a
-- perf buffer; the Rust side (src/bin/bashreadline.rs) reads the buffers of all CPUs and prints
-- one line each, in timestamp order.
local ffi = require('ffi')

ffi.cdef[[
struct readline_event_t {
  uint64_t ts;      /* bpf_ktime_get_ns(): orders the events of different CPUs' buffers */
  uint32_t pid;
  char str[80];
};
]]

local events = bpf.map('perf_event_array')

return {
  events = events,
  on_readline = bpf.uprobe('/bin/bash:readline', function (ptregs)
    -- NULL: end of input (Ctrl-D), no line.
    if ptregs.ret == 0 then
      return
    end
    local e = ffi.new('struct readline_event_t')
    e.ts = time()
    -- The upper 32 bits of pid_tgid() are the tgid: the pid user space sees.
    e.pid = pid_tgid() >> 32
    ffi.copy(e.str, ffi.cast('char *', ptregs.ret))
    perf_submit(events, e)
  end, true),
}
