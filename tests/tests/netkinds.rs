//! XDP, tc and cgroup skb programs in the kernel: verdicts on real traffic through a veth
//! pair into a namespace the test creates, a cgroup the test creates, attach and detach
//! without leftovers, and test-run results at the packet's end.

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use ljbpf_examples::netns::VethPair;
use ljbpf_runtime::aya::maps::Array;
use ljbpf_runtime::{Direction, XdpMode};
use ljbpf_tests::{compile_ok, kernel_ready, load};

/// Counts packets in `n[0]` and drops UDP datagrams to port `port[0]`, as tc.
const TC: &str = r#"
local ffi = require('ffi')
local n = bpf.map('array', 1, ffi.typeof('uint32_t'), ffi.typeof('uint64_t'))
local port = bpf.map('array', 1, ffi.typeof('uint32_t'), ffi.typeof('uint32_t'))
return {
  n = n,
  port = port,
  f = bpf.tc(function (skb)
    if ntoh(pkt.type) ~= c.eth.ip or pkt.ip.proto ~= c.ip.proto_udp then return TC_ACT_OK end
    local k = n[0]
    if k then xadd(k, 1) end
    local p = port[0]
    if p and ntoh(pkt.ip.udp.dst_port) == p[0] then return TC_ACT_SHOT end
    return TC_ACT_OK
  end),
}
"#;

fn tc_qdiscs(iface: &str, netns: Option<&str>) -> String {
    let mut cmd = Command::new("tc");
    if let Some(ns) = netns {
        cmd.args(["-n", ns]);
    }
    let out = cmd
        .args(["qdisc", "show", "dev", iface])
        .output()
        .expect("tc");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn set(probe: &mut ljbpf_runtime::Probe, map: &str, v: u64) {
    match map {
        "port" => Array::<_, u32>::try_from(probe.map_mut(map).unwrap())
            .unwrap()
            .set(0, v as u32, 0)
            .unwrap(),
        _ => Array::<_, u64>::try_from(probe.map_mut(map).unwrap())
            .unwrap()
            .set(0, v, 0)
            .unwrap(),
    }
}

fn get(probe: &ljbpf_runtime::Probe, map: &str) -> u64 {
    Array::<_, u64>::try_from(probe.map(map).unwrap())
        .unwrap()
        .get(&0, 0)
        .unwrap()
}

/// Sends `open` datagrams to an open port and `shut` to the port the probe drops, from the
/// namespace to the host end; returns how many arrived at the open port and whether any
/// reached the dropped one.
fn udp_through(veth: &VethPair, open: u64, shut: u64) -> (u64, bool, u16) {
    let a = UdpSocket::bind((veth.host_ip, 0)).unwrap();
    let b = UdpSocket::bind((veth.host_ip, 0)).unwrap();
    let (to_a, to_b) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    veth.in_netns(|| {
        let s = UdpSocket::bind((veth.peer_ip, 0)).unwrap();
        for _ in 0..open {
            s.send_to(b"a", to_a).unwrap();
        }
        for _ in 0..shut {
            s.send_to(b"b", to_b).unwrap();
        }
    });
    a.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut got = 0;
    let mut buf = [0u8; 8];
    while a.recv(&mut buf).is_ok() {
        got += 1;
    }
    b.set_nonblocking(true).unwrap();
    (got, b.recv(&mut buf).is_ok(), to_b.port())
}

/// A tc filter at an explicit priority needs a clsact qdisc: the probe adds it, the filter
/// counts and drops real datagrams, and detaching removes filter and qdisc. With priority 0
/// (a tcx link on 6.6+) nothing is left behind either.
#[test]
fn tc_counts_drops_and_leaves_nothing_behind() {
    if !kernel_ready("tc_counts_drops_and_leaves_nothing_behind") {
        return;
    }
    let veth = VethPair::new("tc");
    let compiled = compile_ok("tc_veth.lua", TC);
    for priority in [7u16, 0] {
        let mut probe = load(&compiled);
        probe
            .attach_tc("f", &veth.host, Direction::Ingress, priority)
            .unwrap();
        if priority != 0 {
            assert!(
                tc_qdiscs(&veth.host, None).contains("clsact"),
                "no clsact qdisc: {}",
                tc_qdiscs(&veth.host, None)
            );
        }
        // Learn the port to drop first: a probe run with port 0 drops nothing.
        let (got, _, _) = udp_through(&veth, 5, 0);
        assert_eq!(got, 5);
        assert_eq!(get(&probe, "n"), 5);
        let b = UdpSocket::bind((veth.host_ip, 0)).unwrap();
        let port = b.local_addr().unwrap().port();
        set(&mut probe, "port", u64::from(port));
        set(&mut probe, "n", 0);
        veth.in_netns(|| {
            let s = UdpSocket::bind((veth.peer_ip, 0)).unwrap();
            for _ in 0..9 {
                s.send_to(b"b", b.local_addr().unwrap()).unwrap();
            }
        });
        b.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        assert!(b.recv(&mut [0u8; 8]).is_err(), "a dropped datagram arrived");
        assert_eq!(get(&probe, "n"), 9, "priority {priority}");
        probe.detach("f").unwrap();
        assert!(
            !tc_qdiscs(&veth.host, None).contains("clsact"),
            "clsact left behind (priority {priority}): {}",
            tc_qdiscs(&veth.host, None)
        );
        let (got, _, _) = udp_through(&veth, 3, 0);
        assert_eq!(
            (got, get(&probe, "n")),
            (3, 9),
            "still counting after detach"
        );
    }
}

/// A clsact qdisc that was there before the probe stays when the probe goes.
#[test]
fn tc_keeps_a_qdisc_it_did_not_create() {
    if !kernel_ready("tc_keeps_a_qdisc_it_did_not_create") {
        return;
    }
    let veth = VethPair::new("tq");
    let out = Command::new("tc")
        .args(["qdisc", "add", "dev", &veth.host, "clsact"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let compiled = compile_ok("tc_keep.lua", TC);
    {
        let mut probe = load(&compiled);
        probe
            .attach_tc("f", &veth.host, Direction::Egress, 3)
            .unwrap();
    }
    assert!(tc_qdiscs(&veth.host, None).contains("clsact"));
    let filters = Command::new("tc")
        .args(["filter", "show", "dev", &veth.host, "egress"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&filters.stdout).trim(), "");
}

/// The cgroup v2 hierarchy's mount point (`/sys/fs/cgroup`, or `/sys/fs/cgroup/unified` on
/// hybrid systems).
fn cgroup2_root() -> PathBuf {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    mounts
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|w| w.len() > 2 && w[2] == "cgroup2")
        .map(|w| PathBuf::from(w[1]))
        .expect("a cgroup2 mount")
}

/// The test process's own cgroup v2 directory.
fn own_cgroup(root: &Path) -> PathBuf {
    let text = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let rel = text
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .expect("a cgroup v2 entry");
    root.join(rel.trim_start_matches('/'))
}

/// A cgroup the test makes; sockets opened in [`Cgroup::sockets`] belong to it.
struct Cgroup {
    path: PathBuf,
    home: PathBuf,
}

impl Cgroup {
    fn new(tag: &str) -> Cgroup {
        let root = cgroup2_root();
        let path = root.join(format!("ljbpf-{tag}-{}", std::process::id()));
        std::fs::create_dir(&path).unwrap();
        Cgroup {
            path,
            home: own_cgroup(&root),
        }
    }

    /// Runs `f` with this process in the cgroup (a socket belongs to the cgroup its creator
    /// was in), then moves it back. The test binary runs one test per process (nextest).
    fn sockets<T>(&self, f: impl FnOnce() -> T) -> T {
        let pid = std::process::id().to_string();
        std::fs::write(self.path.join("cgroup.procs"), &pid).unwrap();
        let r = f();
        std::fs::write(self.home.join("cgroup.procs"), &pid).unwrap();
        r
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        let _ = std::fs::write(
            self.home.join("cgroup.procs"),
            std::process::id().to_string(),
        );
        let _ = std::fs::remove_dir(&self.path);
    }
}

/// An egress cgroup skb program counts the datagrams the cgroup's sockets send and drops those
/// to one port; sockets outside the cgroup are untouched; the link goes with the probe.
#[test]
fn cgroup_skb_counts_and_blocks_a_cgroups_traffic() {
    if !kernel_ready("cgroup_skb_counts_and_blocks_a_cgroups_traffic") {
        return;
    }
    let compiled = compile_ok(
        "cgroup_veth.lua",
        r#"
local ffi = require('ffi')
local n = bpf.map('array', 1, ffi.typeof('uint32_t'), ffi.typeof('uint64_t'))
local port = bpf.map('array', 1, ffi.typeof('uint32_t'), ffi.typeof('uint32_t'))
return {
  n = n,
  port = port,
  f = bpf.cgroup_skb(nil, 'egress', function (skb)
    if pkt.ip.ver ~= 4 or pkt.ip.proto ~= c.ip.proto_udp then return SK_PASS end
    local k = n[0]
    if k then xadd(k, 1) end
    local p = port[0]
    if p and ntoh(pkt.ip.udp.dst_port) == p[0] then return SK_DROP end
    return SK_PASS
  end),
}
"#,
    );
    let cg = Cgroup::new("cg");
    let inside = cg.sockets(|| UdpSocket::bind("127.0.0.1:0").unwrap());
    let outside = UdpSocket::bind("127.0.0.1:0").unwrap();
    let open = UdpSocket::bind("127.0.0.1:0").unwrap();
    let shut = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut probe = load(&compiled);
    set(
        &mut probe,
        "port",
        u64::from(shut.local_addr().unwrap().port()),
    );
    probe.attach_cgroup("f", &cg.path).unwrap();
    const OPEN: u64 = 12;
    const SHUT: u64 = 8;
    for _ in 0..OPEN {
        inside.send_to(b"o", open.local_addr().unwrap()).unwrap();
    }
    for _ in 0..SHUT {
        // A dropped datagram fails the send with EPERM.
        let r = inside.send_to(b"s", shut.local_addr().unwrap());
        assert!(r.is_err(), "a send the program drops succeeded");
    }
    // The same port from outside the cgroup is not the program's business.
    outside.send_to(b"x", shut.local_addr().unwrap()).unwrap();
    open.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    shut.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let mut buf = [0u8; 4];
    for _ in 0..OPEN {
        open.recv(&mut buf).unwrap();
    }
    let (k, _) = shut.recv_from(&mut buf).unwrap();
    assert_eq!(
        &buf[..k],
        b"x",
        "only the outside datagram reaches the shut port"
    );
    assert_eq!(get(&probe, "n"), OPEN + SHUT);
    drop(probe);
    inside.send_to(b"s", shut.local_addr().unwrap()).unwrap();
    shut.recv(&mut buf)
        .expect("no program after the probe is dropped");
}

/// Test runs of the corpus's packet probes: a frame too short for a field a program reads
/// ends it with its kind's pass verdict, and the verdicts of whole frames are what the Lua
/// says (hand-computed).
#[test]
fn test_runs_end_at_the_packet_with_the_pass_verdict() {
    if !kernel_ready("test_runs_end_at_the_packet_with_the_pass_verdict") {
        return;
    }
    let cases: &[(&str, &str, usize, u32, u32)] = &[
        // (corpus probe, program, truncated length, its retval, the full frame's retval)
        ("xdp", "classify", 20, 2, 1),
        // (The kernel wants a whole IPv4 header in a test-run skb whose type is IPv4.)
        ("tc", "egress", 14 + 20, 0, 3),
        ("cgroup_skb", "sent", 14 + 20, 1, 0),
    ];
    // IPv4 UDP to port 9 with TTL 1 and payload 0xff...: xdp/classify drops it (d[i] ==
    // 0xff), tc/egress moves it to port 10 and says TC_ACT_PIPE, cgroup_skb/sent drops it
    // (port 9).
    let mut frame = vec![0u8; 14];
    frame[12] = 0x08;
    frame.extend_from_slice(&[
        0x45, 0, 0, 36, 0, 0, 0x40, 0, 1, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ]);
    frame.extend_from_slice(&[0x30, 0x39, 0, 9, 0, 16, 0, 0]);
    frame.extend_from_slice(&[0xff; 8]);
    for &(file, program, cut, short, full) in cases {
        let path = ljbpf_tests::root()
            .join("corpus")
            .join(format!("{file}.lua"));
        let compiled = ljbpf_build::compile_file(&path, &ljbpf_build::Options::default())
            .unwrap_or_else(|d| panic!("{d}"));
        let probe = load(&compiled);
        let r = probe.test_run(program, &frame[..cut], 1).unwrap();
        assert_eq!(r.retval, short, "{file}/{program} on {cut} bytes");
        let r = probe.test_run(program, &frame, 1).unwrap();
        assert_eq!(r.retval, full, "{file}/{program} on the whole frame");
    }
}

/// XDP_TX with the MAC addresses swapped and the TTL decremented, as the packet comes out
/// of a test run.
#[test]
fn xdp_writes_the_packet() {
    if !kernel_ready("xdp_writes_the_packet") {
        return;
    }
    let path = ljbpf_tests::root().join("corpus").join("xdp.lua");
    let compiled = ljbpf_build::compile_file(&path, &ljbpf_build::Options::default())
        .unwrap_or_else(|d| panic!("{d}"));
    let probe = load(&compiled);
    let mut frame: Vec<u8> = (1..=12).collect();
    frame.extend_from_slice(&[0x08, 0x00, 0x45, 0, 0, 20, 0, 0, 0, 0, 64, 6, 0, 0]);
    frame.extend_from_slice(&[0; 8]);
    let r = probe.test_run("reflect", &frame, 1).unwrap();
    assert_eq!(r.retval, 3, "XDP_TX");
    let mut want = frame.clone();
    want[..6].copy_from_slice(&frame[6..12]);
    want[6..12].copy_from_slice(&frame[..6]);
    want[14 + 8] = 63;
    assert_eq!(r.data_out, want);
}

/// An XDP program attached by interface name is detached when the probe is dropped.
#[test]
fn xdp_attach_and_detach_on_a_veth() {
    if !kernel_ready("xdp_attach_and_detach_on_a_veth") {
        return;
    }
    let veth = VethPair::new("xd");
    let compiled = compile_ok(
        "xdp_veth.lua",
        "return { f = bpf.xdp(function (ctx) return XDP_DROP end) }",
    );
    let link = || {
        let out = Command::new("ip")
            .args(["-d", "link", "show", &veth.host])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    {
        let mut probe = load(&compiled);
        probe.attach_xdp("f", &veth.host, XdpMode::Default).unwrap();
        assert!(link().contains("xdp"), "{}", link());
        let (got, _, _) = udp_through(&veth, 4, 0);
        assert_eq!(got, 0, "XDP_DROP let datagrams through");
    }
    assert!(!link().contains("xdp"), "{}", link());
    let (got, _, _) = udp_through(&veth, 4, 0);
    assert_eq!(got, 4);
}

/// A program that ends without a value returns its kind's pass verdict (the table's default
/// return), and so does one whose first read is past a 14-byte frame.
#[test]
fn no_verdict_is_the_pass_verdict() {
    if !kernel_ready("no_verdict_is_the_pass_verdict") {
        return;
    }
    let compiled = compile_ok(
        "no_verdict.lua",
        r#"
return {
  x = bpf.xdp(function (ctx) end),
  t = bpf.tc(function (skb) return end),
  g = bpf.cgroup_skb(function (skb) end),
  xr = bpf.xdp(function (ctx) return pkt.ip.ttl end),
  tr = bpf.tc(function (skb) return pkt.ip.ttl end),
}
"#,
    );
    let probe = load(&compiled);
    let mut frame = vec![0u8; 14 + 20];
    frame[12] = 0x08;
    frame[14] = 0x45;
    frame[14 + 8] = 77;
    for (program, want) in [("x", 2), ("t", 0), ("g", 1), ("xr", 77), ("tr", 77)] {
        let r = probe.test_run(program, &frame, 1).unwrap();
        assert_eq!(r.retval, want, "{program}");
    }
    // 14 bytes: no IPv4 header to read (and an ethertype the skb test run accepts as is).
    let eth = [0u8; 14];
    for (program, want) in [("xr", 2), ("tr", 0)] {
        let r = probe.test_run(program, &eth, 1).unwrap();
        assert_eq!(r.retval, want, "{program} on 14 bytes");
    }
}
