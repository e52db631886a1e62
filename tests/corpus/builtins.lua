-- Helper builtins and 64-bit constants (KCDATA): time, cpu, pid_tgid, uid_gid, rand.
local vals = bpf.map('array', 8, ffi.typeof('uint32_t'), ffi.typeof('uint64_t'))
local BIG = 0x123456789abcdefLL
return {
  vals = vals,
  on_getpid = bpf.tracepoint('syscalls/sys_enter_getpid', function (ctx)
    vals[0] = time()
    vals[1] = cpu()
    vals[2] = pid_tgid()
    vals[3] = uid_gid()
    vals[4] = rand() % 100
    vals[5] = BIG
    vals[6] = 0xfedcba9876543210ULL
    vals[7] = -1LL
  end),
}
