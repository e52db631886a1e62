-- Generic for with an iterator that is not a global.
local counts = bpf.map('hash', 16)
return {
  counts = counts,
  prog = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    local it = counts
    for k, v in it do
      counts[k] = v
    end
  end),
}
