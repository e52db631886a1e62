//! Kernel semantic tests of tracepoint probes: compiled probes do what their Lua says, in the
//! live kernel. Probes are attached and triggered by this process's own system calls (filtered
//! on its tgid); results are read from maps with aya's typed maps.

use std::io::Write;
use std::os::fd::AsRawFd;

use ljbpf_runtime::aya::maps::HashMap;
use ljbpf_tests::{array_u64, compile_ok, kernel_ready, load};

fn tgid() -> u64 {
    u64::from(std::process::id())
}

#[test]
fn getpid_tracepoint_counts_exactly_n_calls_of_this_process() {
    if !kernel_ready("getpid_tracepoint_counts_exactly_n_calls_of_this_process") {
        return;
    }
    let probe = compile_ok(
        "getpid.lua",
        r#"
local config = bpf.map('array', 1, 'uint32_t', 'uint64_t')
local count = bpf.map('array', 1, 'uint32_t', 'uint64_t')
return {
  config = config,
  count = count,
  on_getpid = bpf.tracepoint('syscalls/sys_enter_getpid', function (ctx)
    local want = config[0]
    if want and pid_tgid() >> 32 == want then
      local n = count[0]
      if n then xadd(n, 1) end
    end
  end),
}
"#,
    );
    let mut p = load(&probe);
    // std::process::id() is itself a getpid call: take it before attaching.
    let me = tgid();
    array_u64(&mut p, "config").set(0, me, 0).unwrap();
    p.attach("on_getpid").expect("attach");
    const N: u64 = 37;
    let mut pids = [0i64; N as usize];
    for pid in &mut pids {
        // SAFETY: getpid has no preconditions; the raw syscall avoids any libc caching.
        *pid = unsafe { libc::syscall(libc::SYS_getpid) };
    }
    assert!(pids.iter().all(|&p| p as u64 == me));
    let got = array_u64(&mut p, "count").get(&0, 0).unwrap();
    assert_eq!(
        got, N,
        "counted {got} getpid calls of this process, made {N}"
    );

    // With another tgid configured nothing more is counted.
    array_u64(&mut p, "config")
        .set(0, me + 1_000_000, 0)
        .unwrap();
    for _ in 0..5 {
        // SAFETY: as above.
        unsafe { libc::syscall(libc::SYS_getpid) };
    }
    let got = array_u64(&mut p, "count").get(&0, 0).unwrap();
    assert_eq!(got, N, "the tgid filter let other calls through");
}

#[test]
fn getpid_tracepoint_with_tgid_baked_into_the_source() {
    if !kernel_ready("getpid_tracepoint_with_tgid_baked_into_the_source") {
        return;
    }
    let source = format!(
        r#"
local count = bpf.map('hash', 4, 'uint32_t', 'uint64_t')
local ME = {me}
return {{
  count = count,
  on_getpid = bpf.tracepoint('syscalls/sys_enter_getpid', function (ctx)
    if bit.rshift(pid_tgid(), 32) ~= ME then return end
    local n = count[7]
    if n then xadd(n, 1) else count[7] = 1 end
  end),
}}
"#,
        me = tgid()
    );
    let probe = compile_ok("getpid_const.lua", &source);
    let mut p = load(&probe);
    p.attach_all().expect("attach");
    const N: u64 = 12;
    for _ in 0..N {
        // SAFETY: getpid has no preconditions.
        unsafe { libc::syscall(libc::SYS_getpid) };
    }
    let count: HashMap<_, u32, u64> = HashMap::try_from(p.map_mut("count").unwrap()).unwrap();
    assert_eq!(count.get(&7, 0).ok(), Some(N));
}

#[test]
fn write_tracepoint_reads_fd_and_count() {
    if !kernel_ready("write_tracepoint_reads_fd_and_count") {
        return;
    }
    // `fd` is an `unsigned int` stored in 8 bytes at offset 16, `count` a size_t at 32.
    let probe = compile_ok(
        "writes.lua",
        r#"
local config = bpf.map('array', 1, 'uint32_t', 'uint64_t')
local last = bpf.map('hash', 64, 'uint32_t', 'uint64_t')
local total = bpf.map('hash', 64, 'uint32_t', 'uint64_t')
local calls = bpf.map('hash', 64, 'uint32_t', 'uint64_t')
return {
  config = config, last = last, total = total, calls = calls,
  on_write = bpf.tracepoint('syscalls/sys_enter_write', function (ctx)
    local want = config[0]
    if not want then return end
    if bit.rshift(pid_tgid(), 32) ~= want then return end
    local fd = ctx.fd
    last[fd] = ctx.count
    local t = total[fd]
    if t then xadd(t, ctx.count) else total[fd] = ctx.count end
    local n = calls[fd]
    if n then xadd(n, 1) else calls[fd] = 1 end
  end),
}
"#,
    );
    let mut p = load(&probe);
    array_u64(&mut p, "config").set(0, tgid(), 0).unwrap();
    p.attach_all().expect("attach");

    let mut null = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .unwrap();
    let mut fds = [0i32; 2];
    // SAFETY: fds is a valid array of two ints.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let (rd, wr) = (fds[0], fds[1]);
    let null_fd = null.as_raw_fd();

    let null_lens = [1usize, 10, 100, 4096, 70_000];
    for &n in &null_lens {
        null.write_all(&vec![0u8; n]).unwrap();
    }
    let pipe_lens = [3usize, 5, 7];
    for &n in &pipe_lens {
        let buf = vec![1u8; n];
        // SAFETY: buf is valid for n bytes; wr is our pipe's write end.
        let w = unsafe { libc::write(wr, buf.as_ptr().cast(), n) };
        assert_eq!(w, n as isize);
    }
    // count is a size_t: a length above 2^32 must not be truncated (write fails with EFAULT
    // after the tracepoint fired).
    let huge: usize = (1 << 33) + 5;
    // SAFETY: an invalid pointer is fine: the kernel rejects it with EFAULT.
    let w = unsafe { libc::write(null_fd, 8 as *const libc::c_void, huge) };
    let _ = w;
    p.detach("on_write").unwrap();

    let get = |p: &mut ljbpf_runtime::Probe, map: &str, fd: i32| -> Option<u64> {
        let m: HashMap<_, u32, u64> = HashMap::try_from(p.map_mut(map).unwrap()).unwrap();
        m.get(&(fd as u32), 0).ok()
    };
    let null_total: u64 = null_lens.iter().map(|&n| n as u64).sum::<u64>() + huge as u64;
    assert_eq!(
        get(&mut p, "calls", null_fd),
        Some(null_lens.len() as u64 + 1)
    );
    assert_eq!(get(&mut p, "total", null_fd), Some(null_total));
    assert_eq!(get(&mut p, "last", null_fd), Some(huge as u64));
    assert_eq!(get(&mut p, "calls", wr), Some(3));
    assert_eq!(get(&mut p, "total", wr), Some(15));
    assert_eq!(get(&mut p, "last", wr), Some(7));
    assert_eq!(
        get(&mut p, "calls", rd),
        None,
        "nothing was written to the read end"
    );
    // SAFETY: closing our own pipe fds.
    unsafe {
        libc::close(rd);
        libc::close(wr);
    }
}
