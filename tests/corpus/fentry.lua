-- fentry/fexit: a kernel function's arguments by name and type from its BTF prototype; fexit
-- also sees the return value as ctx.ret.
local opens = bpf.map('array', 4, 'uint32_t', 'uint64_t')

return {
  opens = opens,
  -- long do_sys_openat2(int dfd, const char *filename, struct open_how *how)
  on_open = bpf.fentry('do_sys_openat2', function (ctx)
    if ctx.dfd == -100 then xadd(opens[0], 1) end
    if bit.band(ctx.how.flags, 0x40) ~= 0 then xadd(opens[1], 1) end -- O_CREAT
  end),
  on_return = bpf.fexit('do_sys_openat2', function (ctx)
    if ctx.ret < 0 then xadd(opens[2], 1) else xadd(opens[3], 1) end
  end),
}
