//! Kernel semantic tests: compiled probes do what their Lua says, in the live kernel.
//!
//! Tracepoint probes are attached and triggered by this process's own system calls (filtered
//! on its tgid); socket filters run under `BPF_PROG_TEST_RUN`, which strips the first 14 bytes
//! of the data (the kernel's `eth_type_trans`), so every test packet is
//! `[14 filler bytes][Ethernet header][IP ...]` — the dissector's offset 0 is the Ethernet
//! header, as on an `AF_PACKET` socket. Results come back as the return value or through maps
//! read with aya's typed maps.

use std::io::Write;
use std::os::fd::AsRawFd;

use ljbpf_runtime::aya::maps::{Array, HashMap, MapData, PerCpuArray};
use ljbpf_runtime::aya::Pod;
use ljbpf_tests::{compile_ok, kernel_ready, load};

// ---------------------------------------------------------------------------------------------
// Packet building.

/// A test_run frame: 14 bytes the kernel strips, an Ethernet header with `ethertype`, `l3`.
fn frame(ethertype: u16, l3: &[u8]) -> Vec<u8> {
    let mut p = vec![0xeeu8; 14];
    p.extend_from_slice(&[0x02, 0, 0, 0, 0, 1]); // dst
    p.extend_from_slice(&[0x02, 0, 0, 0, 0, 2]); // src
    p.extend_from_slice(&ethertype.to_be_bytes());
    p.extend_from_slice(l3);
    // Keep frames at least 64 bytes so that fixed-offset reads stay inside the packet.
    while p.len() < 14 + 64 {
        p.push(0);
    }
    p
}

struct Ip4 {
    tos: u8,
    ttl: u8,
    proto: u8,
    src: u32,
    dst: u32,
    /// Option bytes (a multiple of 4): the header length is 5 + options.len() / 4 words.
    options: Vec<u8>,
    flags_frag: u16,
    ident: u16,
}

impl Ip4 {
    fn new(proto: u8) -> Self {
        Ip4 {
            tos: 0,
            ttl: 64,
            proto,
            src: 0x0a00_0001,
            dst: 0x0a00_0002,
            options: Vec::new(),
            flags_frag: 0,
            ident: 0x1234,
        }
    }

    /// The header followed by `payload`.
    fn with(&self, payload: &[u8]) -> Vec<u8> {
        assert_eq!(self.options.len() % 4, 0);
        let ihl = 5 + self.options.len() / 4;
        let tlen = (ihl * 4 + payload.len()) as u16;
        let mut h = vec![0x40 | ihl as u8, self.tos];
        h.extend_from_slice(&tlen.to_be_bytes());
        h.extend_from_slice(&self.ident.to_be_bytes());
        h.extend_from_slice(&self.flags_frag.to_be_bytes());
        h.extend_from_slice(&[self.ttl, self.proto, 0xab, 0xcd]);
        h.extend_from_slice(&self.src.to_be_bytes());
        h.extend_from_slice(&self.dst.to_be_bytes());
        h.extend_from_slice(&self.options);
        h.extend_from_slice(payload);
        h
    }
}

fn udp(src: u16, dst: u16, data: &[u8]) -> Vec<u8> {
    let mut u = Vec::new();
    u.extend_from_slice(&src.to_be_bytes());
    u.extend_from_slice(&dst.to_be_bytes());
    u.extend_from_slice(&((8 + data.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0x55, 0xaa]);
    u.extend_from_slice(data);
    u
}

/// TCP header with data offset 5 and `flags` (FIN=1, SYN=2, RST=4, PSH=8, ACK=16, URG=32,
/// ECE=64, CWR=128).
fn tcp(src: u16, dst: u16, seq: u32, flags: u8) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(&src.to_be_bytes());
    t.extend_from_slice(&dst.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&0x0102_0304u32.to_be_bytes());
    t.extend_from_slice(&[0x50, flags, 0xff, 0xf0, 0, 0, 0, 0]);
    t
}

/// Packet carrying two 32-bit inputs as `ip.src` / `ip.dst` (offset by 2^31 so that the probe's
/// `ntoh(pkt.ip.src) - 0x80000000` is the signed value), `ttl` and `tos`, and a 64-bit value
/// where `ip6.dst_lo` would be.
fn inputs_packet(a: i32, b: i32, ttl: u8, tos: u8, wide: u64) -> Vec<u8> {
    let mut ip = Ip4::new(6);
    ip.src = (a as u32) ^ 0x8000_0000;
    ip.dst = (b as u32) ^ 0x8000_0000;
    ip.ttl = ttl;
    ip.tos = tos;
    let mut l3 = ip.with(&tcp(1, 2, 3, 0));
    l3.resize(40, 0);
    l3[32..40].copy_from_slice(&wide.to_be_bytes());
    frame(0x0800, &l3)
}

fn array_u64<'a>(probe: &'a mut ljbpf_runtime::Probe, name: &str) -> Array<&'a mut MapData, u64> {
    Array::try_from(probe.map_mut(name).unwrap()).unwrap()
}

fn tgid() -> u64 {
    u64::from(std::process::id())
}

// ---------------------------------------------------------------------------------------------
// 1. Tracepoints.

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

// ---------------------------------------------------------------------------------------------
// 3. Socket filters: dissector fields.

const DISSECT: &str = r#"
local out = bpf.map('array', 16, 'uint32_t', 'uint64_t')
return {
  out = out,
  eth_type = bpf.socket(function (skb) return ntoh(pkt.type) end),
  eth_type_raw = bpf.socket(function (skb) return eth.type end),
  proto_ttl = bpf.socket(function (skb) return pkt.ip.proto * 256 + pkt.ip.ttl end),
  ip_src = bpf.socket(function (skb) return ntoh(pkt.ip.src) end),
  ip_fields = bpf.socket(function (skb)
    local ip = pkt.ip
    out[0] = ip.ver
    out[1] = ip.hlen
    out[2] = ip.tos
    out[3] = ntoh(ip.tlen)
    out[4] = ntoh(ip.identification)
    out[5] = ip.df
    out[6] = ip.mf
    out[7] = ip.foffset
    out[8] = ntoh(ip.dst)
    out[9] = ip.tlen
    return 0
  end),
  udp_dport = bpf.socket(function (skb) return ntoh(pkt.ip.udp.dst_port) end),
  udp_both = bpf.socket(function (skb)
    local u = pkt.ip.udp
    return ntoh(u.src_port) * 65536 + ntoh(u.dst_port)
  end),
  udp_data = bpf.socket(function (skb)
    local d = pkt.ip.udp.data
    return d[0] * 256 + d[1]
  end),
  tcp_flags = bpf.socket(function (skb)
    local t = pkt.ip.tcp
    return t.flag_fin + t.flag_syn * 2 + t.flag_rst * 4 + t.flag_psh * 8 + t.flag_ack * 16
      + t.flag_urg * 32 + t.flag_ece * 64 + t.flag_cwr * 128 + t.offset * 256
  end),
  tcp_seq = bpf.socket(function (skb) return ntoh(pkt.ip.tcp.seq_num) end),
  classify = bpf.socket(function (skb)
    if ntoh(eth.type) == 0x86dd then return 6000 + eth.ip6.next_header end
    if ntoh(eth.type) ~= 0x0800 then return 1 end
    local ip = eth.ip
    if ip.proto == 6 and ip.tcp.flag_syn == 1 and ip.tcp.flag_ack == 0 then return 2 end
    if ip.proto == 17 then return ntoh(ip.udp.dst_port) end
    return 3
  end),
  bytes = bpf.socket(function (skb) return pkt[12] * 256 + pkt[13] end),
  skb_len = bpf.socket(function (skb) return skb.len end),
}
"#;

fn run(p: &ljbpf_runtime::Probe, prog: &str, data: &[u8]) -> u32 {
    p.test_run(prog, data, 1)
        .unwrap_or_else(|e| panic!("{prog}: {e}"))
        .retval
}

#[test]
fn socket_filter_dissector_fields() {
    if !kernel_ready("socket_filter_dissector_fields") {
        return;
    }
    let probe = compile_ok("dissect.lua", DISSECT);
    let mut p = load(&probe);

    let mut ip = Ip4::new(17);
    ip.ttl = 77;
    ip.tos = 0x2e;
    ip.src = 0xc0a8_0102;
    ip.dst = 0xfedc_ba98;
    ip.flags_frag = 0x4000 | 0x2000 | 0x0123; // DF, MF, offset 0x123
    ip.ident = 0xbeef;
    let payload = udp(5353, 53, &[0xab, 0xcd, 0xef]);
    let pkt4 = frame(0x0800, &ip.with(&payload));

    assert_eq!(run(&p, "eth_type", &pkt4), 0x0800);
    // The field is read in network byte order: on little-endian the raw value is swapped.
    assert_eq!(
        run(&p, "eth_type_raw", &pkt4),
        u32::from(u16::from_le_bytes([0x08, 0x00]))
    );
    assert_eq!(run(&p, "proto_ttl", &pkt4), 17 * 256 + 77);
    assert_eq!(run(&p, "ip_src", &pkt4), 0xc0a8_0102);
    assert_eq!(run(&p, "udp_dport", &pkt4), 53);
    assert_eq!(run(&p, "udp_both", &pkt4), (5353 << 16) | 53);
    assert_eq!(run(&p, "udp_data", &pkt4), 0xabcd);
    assert_eq!(run(&p, "classify", &pkt4), 53);
    assert_eq!(run(&p, "bytes", &pkt4), 0x0800);
    assert_eq!(run(&p, "skb_len", &pkt4), (pkt4.len() - 14) as u32);

    assert_eq!(run(&p, "ip_fields", &pkt4), 0);
    let out = array_u64(&mut p, "out");
    let tlen = (20 + payload.len()) as u64;
    let want = [
        (0, 4, "ver"),
        (1, 5, "hlen"),
        (2, 0x2e, "tos"),
        (3, tlen, "ntoh(tlen)"),
        (4, 0xbeef, "ntoh(identification)"),
        (5, 1, "df"),
        (6, 1, "mf"),
        (7, 0x123, "foffset"),
        (8, 0xfedc_ba98, "ntoh(dst)"),
        (9, u64::from((tlen as u16).swap_bytes()), "raw tlen"),
    ];
    for (i, v, what) in want {
        assert_eq!(out.get(&i, 0).unwrap(), v, "ip.{what}");
    }

    // A variable IP header length: ihl = 6 with 4 option bytes; udp/data follow it.
    let mut ip6w = Ip4::new(17);
    ip6w.options = vec![1, 1, 1, 0];
    let pkt_opt = frame(0x0800, &ip6w.with(&udp(1000, 4242, &[0x12, 0x34])));
    assert_eq!(run(&p, "udp_dport", &pkt_opt), 4242);
    assert_eq!(run(&p, "udp_both", &pkt_opt), (1000 << 16) | 4242);
    assert_eq!(run(&p, "udp_data", &pkt_opt), 0x1234);
    assert_eq!(run(&p, "classify", &pkt_opt), 4242);
    // ihl = 15: 40 option bytes.
    let mut ip15 = Ip4::new(17);
    ip15.options = vec![1; 40];
    let pkt15 = frame(0x0800, &ip15.with(&udp(9, 65535, &[9, 8])));
    assert_eq!(run(&p, "udp_dport", &pkt15), 65535);
    assert_eq!(run(&p, "udp_data", &pkt15), 0x0908);

    // TCP flags, each alone and combined, and the data offset.
    for flags in [0u8, 1, 2, 4, 8, 16, 32, 64, 128, 0x12, 0xff] {
        let pkt = frame(0x0800, &Ip4::new(6).with(&tcp(1, 2, 0xdead_beef, flags)));
        assert_eq!(
            run(&p, "tcp_flags", &pkt),
            u32::from(flags) + 5 * 256,
            "tcp flags {flags:#x}"
        );
        let class = if flags & 0x12 == 0x02 { 2 } else { 3 };
        assert_eq!(
            run(&p, "classify", &pkt),
            class,
            "classify flags {flags:#x}"
        );
    }
    let mut ipt = Ip4::new(6);
    ipt.options = vec![0; 8];
    let pkt = frame(0x0800, &ipt.with(&tcp(1, 2, 0xdead_beef, 0x02)));
    assert_eq!(run(&p, "tcp_seq", &pkt), 0xdead_beef);
    assert_eq!(run(&p, "tcp_flags", &pkt), 2 + 5 * 256);

    // IPv6 and another ethertype.
    let mut v6 = vec![0x60, 0, 0, 0, 0, 8, 58, 64];
    v6.extend_from_slice(&[0u8; 32]);
    assert_eq!(run(&p, "classify", &frame(0x86dd, &v6)), 6058);
    assert_eq!(run(&p, "classify", &frame(0x0806, &[0u8; 28])), 1);
    assert_eq!(run(&p, "eth_type", &frame(0x0806, &[0u8; 28])), 0x0806);
}

// ---------------------------------------------------------------------------------------------
// 4. Map semantics.

const MAPS: &str = r#"
ffi.cdef[[ struct st_t { uint64_t count; uint64_t last; uint32_t small; int32_t neg; }; ]]
local h = bpf.map('hash', 64, 'uint32_t', 'uint64_t')
local arr = bpf.map('array', 8, 'uint32_t', 'uint64_t')
local st = bpf.map('hash', 64, 'uint32_t', 'struct st_t')
local pc = bpf.map('percpu_array', 4, 'uint32_t', 'uint64_t')
local lru = bpf.map('lru_hash', 8, 'uint32_t', 'uint64_t')
return {
  h = h, arr = arr, st = st, pc = pc, lru = lru,
  absent = bpf.socket(function (skb)
    if h[pkt.ip.ttl] == nil then return 1 end
    return 0
  end),
  get = bpf.socket(function (skb)
    local v = h[pkt.ip.ttl]
    if v then return v + 1 end
    return 0
  end),
  update = bpf.socket(function (skb)
    h[pkt.ip.ttl] = ntoh(pkt.ip.src)
    return 0
  end),
  delete = bpf.socket(function (skb)
    h[pkt.ip.ttl] = nil
    return 0
  end),
  hadd = bpf.socket(function (skb)
    local k = pkt.ip.ttl
    local v = h[k]
    if v then xadd(v, ntoh(pkt.ip.src)) else h[k] = 1000 end
    return 0
  end),
  aadd = bpf.socket(function (skb)
    local v = arr[pkt.ip.ttl]
    if v then xadd(v, ntoh(pkt.ip.src)) return 1 end
    return 0
  end),
  stupd = bpf.socket(function (skb)
    local k = pkt.ip.ttl
    local n = ntoh(pkt.ip.src)
    local v = st[k]
    if v then
      v.count = v.count + 1
      v.last = n
      v.neg = v.neg - 1
      return 2
    else
      local s = ffi.new('struct st_t')
      s.count = 1
      s.last = n
      s.small = 7
      s.neg = -1
      st[k] = s
      return 1
    end
  end),
  pcadd = bpf.socket(function (skb)
    local v = pc[pkt.ip.ttl]
    if v then xadd(v, ntoh(pkt.ip.src)) end
    return 0
  end),
  lruput = bpf.socket(function (skb)
    lru[ntoh(pkt.ip.dst)] = ntoh(pkt.ip.src)
    return 0
  end),
}
"#;

/// The value type of `st` in the probe above.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct St {
    count: u64,
    last: u64,
    small: u32,
    neg: i32,
}
// SAFETY: repr(C), plain integers, no padding (8 + 8 + 4 + 4).
unsafe impl Pod for St {}

/// A packet with key `ttl` and value `ip.src`, `ip.dst`.
fn kv(key: u8, value: u32, dst: u32) -> Vec<u8> {
    let mut ip = Ip4::new(6);
    ip.ttl = key;
    ip.src = value;
    ip.dst = dst;
    frame(0x0800, &ip.with(&tcp(1, 2, 3, 0)))
}

#[test]
fn map_lookup_update_delete_and_xadd() {
    if !kernel_ready("map_lookup_update_delete_and_xadd") {
        return;
    }
    let probe = compile_ok("maps.lua", MAPS);
    let mut p = load(&probe);
    let hget = |p: &mut ljbpf_runtime::Probe, k: u32| -> Option<u64> {
        let m: HashMap<_, u32, u64> = HashMap::try_from(p.map_mut("h").unwrap()).unwrap();
        m.get(&k, 0).ok()
    };

    // Absent → nil.
    assert_eq!(run(&p, "absent", &kv(5, 0, 0)), 1);
    assert_eq!(run(&p, "get", &kv(5, 0, 0)), 0);
    // Update from the program, seen from Rust and from the program.
    assert_eq!(run(&p, "update", &kv(5, 0x1234_5678, 0)), 0);
    assert_eq!(hget(&mut p, 5), Some(0x1234_5678));
    assert_eq!(run(&p, "absent", &kv(5, 0, 0)), 0);
    assert_eq!(run(&p, "get", &kv(5, 0, 0)), 0x1234_5679);
    // Update from Rust, seen by the program.
    {
        let mut m: HashMap<_, u32, u64> = HashMap::try_from(p.map_mut("h").unwrap()).unwrap();
        m.insert(9, 41, 0).unwrap();
    }
    assert_eq!(run(&p, "get", &kv(9, 0, 0)), 42);
    // Overwrite.
    run(&p, "update", &kv(5, 0xffff_ffff, 0));
    assert_eq!(hget(&mut p, 5), Some(0xffff_ffff));
    // Delete.
    run(&p, "delete", &kv(5, 0, 0));
    assert_eq!(hget(&mut p, 5), None);
    assert_eq!(run(&p, "absent", &kv(5, 0, 0)), 1);
    assert_eq!(hget(&mut p, 9), Some(41), "delete removed only its key");
    // Deleting an absent key is harmless.
    run(&p, "delete", &kv(5, 0, 0));
    assert_eq!(hget(&mut p, 5), None);

    // xadd on a hash value: first call inserts 1000, later ones add.
    run(&p, "hadd", &kv(20, 7, 0));
    assert_eq!(hget(&mut p, 20), Some(1000));
    for v in [7u32, 100, 0xffff_ffff] {
        run(&p, "hadd", &kv(20, v, 0));
    }
    assert_eq!(hget(&mut p, 20), Some(1000 + 7 + 100 + 0xffff_ffff));

    // xadd on an array value; an index out of range is a nil lookup.
    for (k, v) in [
        (0u8, 5u32),
        (3, 1),
        (3, 2),
        (7, 0x8000_0000),
        (7, 0x8000_0000),
    ] {
        assert_eq!(run(&p, "aadd", &kv(k, v, 0)), 1);
    }
    assert_eq!(run(&p, "aadd", &kv(8, 1, 0)), 0, "arr[8] is out of range");
    let arr = array_u64(&mut p, "arr");
    let got: Vec<u64> = (0..8).map(|i| arr.get(&i, 0).unwrap()).collect();
    assert_eq!(got, [5, 0, 0, 3, 0, 0, 0, 0x1_0000_0000]);
}

#[test]
fn map_struct_values_with_field_updates() {
    if !kernel_ready("map_struct_values_with_field_updates") {
        return;
    }
    let probe = compile_ok("maps.lua", MAPS);
    let mut p = load(&probe);
    assert_eq!(run(&p, "stupd", &kv(3, 111, 0)), 1);
    let get = |p: &mut ljbpf_runtime::Probe, k: u32| -> Option<St> {
        let m: HashMap<_, u32, St> = HashMap::try_from(p.map_mut("st").unwrap()).unwrap();
        m.get(&k, 0).ok()
    };
    assert_eq!(
        get(&mut p, 3),
        Some(St {
            count: 1,
            last: 111,
            small: 7,
            neg: -1
        })
    );
    for v in [222u32, 333, 0xffff_fffe] {
        assert_eq!(run(&p, "stupd", &kv(3, v, 0)), 2);
    }
    assert_eq!(
        get(&mut p, 3),
        Some(St {
            count: 4,
            last: 0xffff_fffe,
            small: 7,
            neg: -4
        })
    );
    // A Rust-written value is updated in place by the program.
    {
        let mut m: HashMap<_, u32, St> = HashMap::try_from(p.map_mut("st").unwrap()).unwrap();
        m.insert(
            4,
            St {
                count: u64::MAX,
                last: 1,
                small: 99,
                neg: i32::MIN,
            },
            0,
        )
        .unwrap();
    }
    assert_eq!(run(&p, "stupd", &kv(4, 5, 0)), 2);
    assert_eq!(
        get(&mut p, 4),
        Some(St {
            count: 0,
            last: 5,
            small: 99,
            neg: i32::MAX
        }),
        "count wraps as uint64, neg wraps as int32"
    );
    assert_eq!(
        get(&mut p, 3).map(|s| s.count),
        Some(4),
        "other key untouched"
    );
}

#[test]
fn percpu_array_and_lru_hash() {
    if !kernel_ready("percpu_array_and_lru_hash") {
        return;
    }
    let probe = compile_ok("maps.lua", MAPS);
    let mut p = load(&probe);
    let mut want = 0u64;
    for v in [1u32, 10, 100, 0xffff_ffff] {
        run(&p, "pcadd", &kv(2, v, 0));
        want += u64::from(v);
    }
    run(&p, "pcadd", &kv(4, 1, 0)); // out of range: nothing
    {
        let pc: PerCpuArray<_, u64> = PerCpuArray::try_from(p.map_mut("pc").unwrap()).unwrap();
        let sum: u64 = pc.get(&2, 0).unwrap().iter().sum();
        assert_eq!(sum, want);
        for k in [0u32, 1, 3] {
            assert_eq!(pc.get(&k, 0).unwrap().iter().sum::<u64>(), 0, "pc[{k}]");
        }
    }

    // lru_hash with 8 entries: inserting 100 keys never fails, keeps at most 8 entries, and the
    // newest key is there with its value.
    for k in 0..100u32 {
        assert_eq!(run(&p, "lruput", &kv(1, k * 3 + 1, 0x1000 + k)), 0);
        let m: HashMap<_, u32, u64> = HashMap::try_from(p.map_mut("lru").unwrap()).unwrap();
        assert_eq!(
            m.get(&(0x1000 + k), 0).ok(),
            Some(u64::from(k * 3 + 1)),
            "key {k}"
        );
    }
    let m: HashMap<_, u32, u64> = HashMap::try_from(p.map_mut("lru").unwrap()).unwrap();
    let entries: Vec<(u32, u64)> = m.iter().filter_map(Result::ok).collect();
    assert!(
        !entries.is_empty() && entries.len() <= 8,
        "lru entries: {entries:?}"
    );
    for (k, v) in entries {
        assert_eq!(v, u64::from((k - 0x1000) * 3 + 1));
    }
}

// ---------------------------------------------------------------------------------------------
// 5. Semantics edge cases.

const EDGES: &str = r#"
local out = bpf.map('array', 40, 'uint32_t', 'uint64_t')
return {
  out = out,
  edges = bpf.socket(function (skb)
    local a = ntoh(pkt.ip.src) - 0x80000000
    local b = ntoh(pkt.ip.dst) - 0x80000000
    local ttl, tos = pkt.ip.ttl, pkt.ip.tos
    local w = ntoh(pkt.ip6.dst_lo)
    local zero = a - a
    out[0] = a % b
    out[1] = a / b
    out[2] = a / zero
    out[3] = a % zero
    out[4] = ttl - tos
    out[5] = (ttl - tos < 0) and 1 or 0
    out[6] = (0xffffffffffffffffULL > w) and 1 or 0
    out[7] = 0x7fffffffffffffffLL + w
    out[8] = 0ULL - w
    out[9] = zero or 5
    out[10] = (a > b and a) or b
    out[11] = (a < b and nil) or 77
    out[12] = (not (a == b)) and 1 or 0
    local level
    if a > 100 then
      level = 3
    elseif a > 0 then
      if b > 0 then level = 21 else level = 22 end
    elseif a == 0 then
      level = 1
    else
      level = 0
    end
    out[13] = level
    out[14] = bit.band(a, b)
    out[15] = bit.bor(a, b)
    out[16] = bit.bxor(a, 0xff)
    out[17] = bit.bnot(a)
    out[18] = bit.lshift(a, 28)
    out[19] = bit.rshift(a, 1)
    out[20] = bit.arshift(a, 1)
    out[21] = a & b
    out[22] = a | b
    out[23] = a ~ b
    out[24] = ~a
    out[25] = a << 28
    out[26] = a >> 1
    out[27] = a ~>> 1
    out[28] = w & 0xff00ff00ff00ff00ULL
    out[29] = w | 1ULL
    out[30] = ~w
    out[31] = w << 4
    out[32] = w >> 60
    out[33] = bit.rshift(w, 4)
    out[34] = (w - 1 > w) and 1 or 0
    out[35] = a * 0x100000000LL
    out[36] = (a * 0x100000000LL < 0) and 1 or 0
    out[37] = 0x7fffffffffffffffLL * 2
    return 0
  end),
}
"#;

/// 32-bit bit-op result as LuaJIT gives it: the low 32 bits, sign-extended.
fn tobit(v: i64) -> u64 {
    i64::from(v as i32) as u64
}

fn edges_expected(a: i32, b: i32, ttl: u8, tos: u8, w: u64) -> Vec<(usize, u64, &'static str)> {
    let (a64, b64) = (i64::from(a), i64::from(b));
    let fmod = |x: i64, y: i64| {
        if y == 0 {
            x
        } else {
            x.rem_euclid(y) + if y < 0 && x.rem_euclid(y) != 0 { y } else { 0 }
        }
    };
    let tdiv = |x: i64, y: i64| if y == 0 { 0 } else { x / y };
    let s = |v: i64| v as u64;
    let level = if a > 100 {
        3
    } else if a > 0 {
        if b > 0 {
            21
        } else {
            22
        }
    } else if a == 0 {
        1
    } else {
        0
    };
    vec![
        (0, s(fmod(a64, b64)), "a % b (floored)"),
        (1, s(tdiv(a64, b64)), "a / b (truncated)"),
        (2, 0, "a / 0"),
        (3, s(a64), "a % 0"),
        (4, s(i64::from(ttl) - i64::from(tos)), "ttl - tos"),
        (5, u64::from(ttl < tos), "ttl - tos < 0"),
        (6, u64::from(w != u64::MAX), "0xffffffffffffffffULL > w"),
        (7, 0x7fff_ffff_ffff_ffffu64.wrapping_add(w), "int64 max + w"),
        (8, 0u64.wrapping_sub(w), "0ULL - w"),
        (9, 0, "zero or 5"),
        (10, s(a64.max(b64)), "(a > b and a) or b"),
        (11, 77, "(a < b and nil) or 77"),
        (12, u64::from(a != b), "not (a == b)"),
        (13, level, "nested if"),
        (14, tobit(a64 & b64), "bit.band"),
        (15, tobit(a64 | b64), "bit.bor"),
        (16, tobit(a64 ^ 0xff), "bit.bxor"),
        (17, tobit(!a64), "bit.bnot"),
        (18, tobit(i64::from((a as u32) << 28)), "bit.lshift"),
        (19, tobit(i64::from((a as u32) >> 1)), "bit.rshift"),
        (20, tobit(i64::from(a >> 1)), "bit.arshift"),
        (21, tobit(a64 & b64), "&"),
        (22, tobit(a64 | b64), "|"),
        (23, tobit(a64 ^ b64), "~ (xor)"),
        (24, tobit(!a64), "~a"),
        (25, tobit(i64::from((a as u32) << 28)), "<<"),
        (26, tobit(i64::from((a as u32) >> 1)), ">>"),
        (27, tobit(i64::from(a >> 1)), "~>>"),
        (28, w & 0xff00_ff00_ff00_ff00, "uint64 &"),
        (29, w | 1, "uint64 |"),
        (30, !w, "uint64 ~"),
        (31, w << 4, "uint64 <<"),
        (32, w >> 60, "uint64 >>"),
        (33, w >> 4, "bit.rshift uint64"),
        (34, u64::from(w == 0), "w - 1 > w (wraps at 0)"),
        (35, s(a64 << 32), "a * 2^32 LL"),
        (36, u64::from(a < 0), "int64 < 0"),
        (37, s(i64::MAX.wrapping_mul(2)), "int64 max * 2 wraps"),
    ]
}

#[test]
fn semantics_edge_cases() {
    if !kernel_ready("semantics_edge_cases") {
        return;
    }
    let probe = compile_ok("edges.lua", EDGES);
    let mut p = load(&probe);
    let inputs: [(i32, i32, u8, u8, u64); 8] = [
        (-7, 3, 10, 20, 1),
        (-7, 2, 20, 10, 0),
        (7, -3, 0, 255, u64::MAX),
        (7, 0, 255, 0, 1 << 63),
        (0, 0, 1, 1, 0x0123_4567_89ab_cdef),
        (i32::MIN, -1, 64, 0, 2),
        (i32::MAX, i32::MIN, 128, 129, 0xffff_ffff),
        (150, 5, 3, 4, 0x8000_0000_0000_0001),
    ];
    let mut failures = Vec::new();
    for (a, b, ttl, tos, w) in inputs {
        assert_eq!(run(&p, "edges", &inputs_packet(a, b, ttl, tos, w)), 0);
        let out = array_u64(&mut p, "out");
        for (i, want, what) in edges_expected(a, b, ttl, tos, w) {
            let got = out.get(&(i as u32), 0).unwrap();
            if got != want {
                failures.push(format!(
                    "a={a} b={b} ttl={ttl} tos={tos} w={w:#x}: out[{i}] {what}: want {want} ({}), got {got} ({})",
                    want as i64, got as i64
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{}\nlisting:\n{}",
        failures.join("\n"),
        probe.listing
    );
}

#[test]
fn documented_examples_of_the_semantics() {
    if !kernel_ready("documented_examples_of_the_semantics") {
        return;
    }
    // The literal examples of DESIGN.md, as return values.
    let probe = compile_ok(
        "examples.lua",
        r#"
return {
  floored = bpf.socket(function (skb) local m = pkt.ip.ttl - 10 return m % 3 end),
  trunc = bpf.socket(function (skb) local m = pkt.ip.ttl - 10 return m / 2 + 100 end),
  divzero = bpf.socket(function (skb) local z = pkt.ip.tos return pkt.ip.ttl / z + 1000 end),
  modzero = bpf.socket(function (skb) local z = pkt.ip.tos return pkt.ip.ttl % z end),
  orfive = bpf.socket(function (skb) local x = pkt.ip.tos return x or 5 end),
  ullcmp = bpf.socket(function (skb)
    local one = pkt.ip.ttl + 0ULL
    if 0xffffffffffffffffULL > one then return 1 end
    return 0
  end),
}
"#,
    );
    let p = load(&probe);
    let pk = |ttl: u8, tos: u8| inputs_packet(0, 0, ttl, tos, 0);
    assert_eq!(run(&p, "floored", &pk(3, 0)), 2, "-7 % 3 == 2");
    assert_eq!(run(&p, "trunc", &pk(3, 0)), 97, "-7 / 2 == -3");
    assert_eq!(run(&p, "divzero", &pk(9, 0)), 1000, "9 / 0 == 0");
    assert_eq!(run(&p, "modzero", &pk(9, 0)), 9, "9 % 0 == 9");
    assert_eq!(run(&p, "orfive", &pk(9, 0)), 0, "0 or 5 == 0");
    assert_eq!(run(&p, "orfive", &pk(9, 4)), 4);
    assert_eq!(run(&p, "ullcmp", &pk(1, 0)), 1);
}

// ---------------------------------------------------------------------------------------------

// Builtins of the probe-language contract (reference/probe-language.md): packet slices and
// dissector arithmetic, run-time byte indexes, string compares, integer logarithms,
// load_bytes, ffi.cast. Each is a minimal probe body with its packet and expected value.

#[test]
fn documented_builtins() {
    if !kernel_ready("documented_builtins") {
        return;
    }
    let mut ip = Ip4::new(17);
    ip.ttl = 64;
    let pkt = frame(0x0800, &ip.with(&udp(1, 80, b"GET /")));
    let cases: &[(&str, u32)] = &[
        ("return ntoh(pkt(12, 14))", 0x0800),
        ("local d = pkt.ip + 9 return d[0]", 17),
        ("return pkt.ip.udp.data(0, 4) == 'GET ' and 1 or 0", 1),
        ("local k = pkt.ip.hlen return pkt[k + 9]", 0x45),
        ("return math.log2(pkt.ip.ttl)", 6),
        ("return math.log10(pkt.ip.ttl)", 1),
        (
            "local v = ffi.new('uint8_t[2]') load_bytes(12, v) return v[0] * 256 + v[1]",
            0x0800,
        ),
        ("return ffi.cast('uint8_t', pkt.ip.ttl + 255)", 63),
    ];
    let mut failures = Vec::new();
    for (n, &(body, want)) in cases.iter().enumerate() {
        let source = format!("return {{ f = bpf.socket(function (skb) {body} end) }}\n");
        let compiled = match ljbpf_tests::compile_str(&format!("gap{n}.lua"), &source) {
            Ok(c) => c,
            Err(d) => {
                failures.push(format!("`{body}`: does not compile: {d}"));
                continue;
            }
        };
        let p = match ljbpf_runtime::Probe::load(ljbpf_cli::spec(&compiled)) {
            Ok(p) => p,
            Err(e) => {
                failures.push(format!("`{body}`: does not load: {e}"));
                continue;
            }
        };
        let got = run(&p, "f", &pkt);
        if got != want {
            failures.push(format!(
                "`{body}`: want {want:#x}, got {got:#x}\n{}",
                compiled.listing
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "builtins that fail ({} of {}):\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
