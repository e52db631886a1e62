-- Perf events: a software clock sampled on every CPU; ctx is struct bpf_perf_event_data
-- (the sampled registers by pt_regs name, sample_period, addr).
local ffi = require('ffi')
ffi.cdef[[ struct sample_t { uint32_t tgid; uint32_t kernel; uint64_t ip; }; ]]
local samples = bpf.map('hash', 10240, 'struct sample_t', 'uint64_t')
local period = bpf.map('array', 1, 'uint32_t', 'uint64_t')

return {
  samples = samples,
  period = period,
  on_clock = bpf.perf_event({ type = 'software', config = 'cpu_clock', frequency = 99 },
    function (ctx)
      local key = ffi.new('struct sample_t')
      key.tgid = pid_tgid() >> 32
      key.ip = ctx.ip
      -- the low two bits of cs are the privilege level the sample hit
      if bit.band(ctx.cs, 3) == 0 then key.kernel = 1 end
      local n = samples[key]
      if n then xadd(n, 1) else samples[key] = 1 end
      period[0] = ctx.sample_period
    end),
}
