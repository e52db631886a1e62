-- In the reference compiler's style (bcc examples/lua), body unchanged.
local ffi = require('ffi')
local map = bpf.map('hash', 256, ffi.typeof('uint32_t'), ffi.typeof('uint64_t'))
return {
  map = map,
  probe = bpf.kprobe('myprobe:sys_write', function (ptregs)
	local fd = ptregs.parm1
	xadd(map[fd], 1)
	if not map[fd] then map[fd] = 1 end
  end, false),
}
