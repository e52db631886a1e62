-- struct open_how has flags, mode and resolve.
local seen = bpf.map('array', 1, 'uint32_t', 'uint64_t')
return {
  prog = bpf.fentry('do_sys_openat2', function (ctx)
    seen[0] = ctx.how.flagz
  end),
}
