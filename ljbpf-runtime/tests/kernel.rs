//! Runtime tests against the live kernel: hand-assembled programs, wrapped with ljbpf-build's
//! ELF writer, loaded, attached, test-run and read back through the runtime API.
//!
//! They need root; without it each test prints why it skips, unless `LJBPF_REQUIRE_KERNEL=1`,
//! in which case it fails.

use std::net::UdpSocket;
use std::os::fd::{AsFd as _, OwnedFd};
use std::process::Command;
use std::time::{Duration, Instant};

use ljbpf_runtime::aya::maps::{HashMap as BpfHashMap, IterableMap as _, Map, MapData};
use ljbpf_runtime::{
    check, Error, LineEntry, Probe, ProbeSpec, ProgramKind, SocketDirection, SourceLocation,
};

mod common;
use common::*;

fn getpid_counter_spec() -> &'static ProbeSpec {
    let mut asm = Asm::default();
    asm.call(Helper::GetCurrentPidTgid)
        .rsh_imm(0, 32)
        .stx_w(10, -4, 0)
        .count_key_at_fp4(0, &["init", "done"])
        .mov_imm(0, 0)
        .exit();
    spec(
        "getpid",
        vec![hash_map("counts", 4, 8, 16384)],
        vec![Prog {
            name: "on_getpid",
            section: "tracepoint/syscalls/sys_enter_getpid",
            kind: ProgramKind::Tracepoint {
                category: "syscalls".into(),
                name: "sys_enter_getpid".into(),
            },
            asm,
            lines: &[],
        }],
    )
}

fn count_for_me(map: &Map) -> u64 {
    let counts = BpfHashMap::<_, u32, u64>::try_from(map).expect("hash map");
    counts.get(&std::process::id(), 0).unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// Tests

/// A socket filter that returns `2 * byte + 1` of packet offset 0, read two ways.
#[test]
fn socket_filter_test_run_sees_packet_after_ethernet_header() {
    if !kernel("socket_filter_test_run_sees_packet_after_ethernet_header") {
        return;
    }
    let mut ld_abs = Asm::default();
    ld_abs
        .mov(6, 1)
        .ld_abs_b(0)
        .mul_imm(0, 2)
        .add_imm(0, 1)
        .exit();
    let mut load_bytes = Asm::default();
    load_bytes
        .mov_imm(2, 0) // offset
        .mov(3, 10)
        .add_imm(3, -8) // to
        .mov_imm(4, 1) // len; r1 is still the skb
        .st_dw(10, -8, 0)
        .call(Helper::SkbLoadBytes)
        .ldx_b(0, 10, -8)
        .mul_imm(0, 2)
        .add_imm(0, 1)
        .exit();
    let filter = ProgramKind::SocketFilter { iface: None };
    let spec = spec(
        "sockfilter",
        vec![],
        vec![
            Prog {
                name: "by_ld_abs",
                section: "socket",
                kind: filter.clone(),
                asm: ld_abs,
                lines: &[],
            },
            Prog {
                name: "by_load_bytes",
                section: "socket",
                kind: filter.clone(),
                asm: load_bytes,
                lines: &[],
            },
        ],
    );
    let probe = Probe::load(spec).expect("load");

    // Ethernet header (dst 11.., src 22.., ethertype IPv4) then a fake IPv4 header.
    let mut frame = vec![0x11; 6];
    frame.extend_from_slice(&[0x22; 6]);
    frame.extend_from_slice(&[0x08, 0x00]);
    frame.extend_from_slice(&[0x45, 0x00, 0x00, 0x1c, 0x12, 0x34]);
    frame.resize(64, 0x77);

    for program in ["by_ld_abs", "by_load_bytes"] {
        let run = probe.test_run(program, &frame, 3).expect("test run");
        // Offset 0 in a test run is frame[14]: the kernel pulls the Ethernet header.
        assert_eq!(run.retval, 2 * 0x45 + 1, "{program}");
        // data_out has the frame's length, but the kernel hands back the Ethernet header
        // zeroed (observed on Linux 6.18); only the bytes from offset 14 are the input's.
        assert_eq!(run.data_out.len(), frame.len(), "{program}");
        assert_eq!(run.data_out[14..], frame[14..], "{program}");
    }
    assert!(matches!(
        probe.test_run("nope", &frame, 1),
        Err(Error::UnknownProgram { .. })
    ));
}

/// On a real `AF_PACKET` raw socket, offset 0 is the Ethernet header: on `lo` the half-word at
/// offset 12 is the ethertype 0x0800 of an IPv4 datagram.
#[test]
fn socket_filter_on_interface_sees_ethernet_header() {
    if !kernel("socket_filter_on_interface_sees_ethernet_header") {
        return;
    }
    let mut asm = Asm::default();
    asm.mov(6, 1)
        .ld_abs_h(12)
        .stx_w(10, -4, 0)
        .count_key_at_fp4(0, &["init", "done"])
        .mov_imm(0, 0) // keep nothing in the socket's queue
        .exit();
    let spec = spec(
        "lo_ethertypes",
        vec![hash_map("ethertypes", 4, 8, 64)],
        vec![Prog {
            name: "on_lo",
            section: "socket",
            kind: ProgramKind::SocketFilter {
                iface: Some("lo".into()),
            },
            asm,
            lines: &[],
        }],
    );
    let mut probe = Probe::load(spec).expect("load");
    probe.attach_all().expect("attach");

    let rx = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let tx = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let deadline = Instant::now() + Duration::from_secs(5);
    let ipv4 = loop {
        tx.send_to(b"ljbpf", rx.local_addr().expect("addr"))
            .expect("send");
        let map = probe.map("ethertypes").expect("map");
        let types = BpfHashMap::<_, u32, u64>::try_from(map).expect("hash map");
        let n = types.get(&0x0800, 0).unwrap_or(0);
        if n > 0 || Instant::now() > deadline {
            break n;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(ipv4 > 0, "no IPv4 frame seen on lo at ethertype offset 12");
}

/// A filter declared without an interface runs on `lo` by name: with `SocketDirection::Both` it sees
/// each loopback datagram twice (leaving and arriving), with `OncePerPacket` and `IncomingOnly`
/// once. Counted on a UDP port of this test's own, so other traffic on `lo` does not count.
#[test]
fn socket_filter_attaches_to_an_interface_by_name_in_each_direction() {
    if !kernel("socket_filter_attaches_to_an_interface_by_name_in_each_direction") {
        return;
    }
    let rx = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port = rx.local_addr().expect("addr").port();
    let mut asm = Asm::default();
    // On an AF_PACKET socket offset 0 is the Ethernet header: the UDP destination port of an
    // IPv4 datagram without options is at 14 + 20 + 2. LD_ABS reads it in host order.
    asm.mov(6, 1)
        .ld_abs_h(36)
        .jne_imm(0, i32::from(port), "out")
        .st_w(10, -4, 0)
        .count_key_at_fp4(0, &["init", "done"])
        .label("out")
        .mov_imm(0, 0)
        .exit();
    let spec = spec(
        "by_name",
        vec![hash_map("hits", 4, 8, 4)],
        vec![Prog {
            name: "count_port",
            section: "socket",
            kind: ProgramKind::SocketFilter { iface: None },
            asm,
            lines: &[],
        }],
    );
    let tx = UdpSocket::bind("127.0.0.1:0").expect("bind");
    const N: u64 = 20;
    for (direction, per_packet) in [
        (SocketDirection::Both, 2),
        (SocketDirection::OncePerPacket, 1),
        (SocketDirection::IncomingOnly, 1),
    ] {
        let mut probe = Probe::load(spec).expect("load");
        probe
            .attach_iface("count_port", "lo", direction)
            .expect("attach to lo");
        for _ in 0..N {
            tx.send_to(b"ljbpf", ("127.0.0.1", port)).expect("send");
        }
        let want = N * per_packet;
        let deadline = Instant::now() + Duration::from_secs(5);
        let seen = loop {
            let map = probe.map("hits").expect("map");
            let hits = BpfHashMap::<_, u32, u64>::try_from(map).expect("hash map");
            let n = hits.get(&0, 0).unwrap_or(0);
            if n >= want || Instant::now() > deadline {
                break n;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // Late copies would still arrive within this wait.
        std::thread::sleep(Duration::from_millis(100));
        let map = probe.map("hits").expect("map");
        let after = BpfHashMap::<_, u32, u64>::try_from(map)
            .expect("hash map")
            .get(&0, 0)
            .unwrap_or(0);
        assert_eq!((seen, after), (want, want), "{direction:?}");
        probe
            .detach("count_port")
            .expect("detach closes the socket");
    }
    assert!(matches!(
        Probe::load(spec).expect("load").attach_iface(
            "count_port",
            "no-such-if0",
            SocketDirection::Both
        ),
        Err(Error::Socket { .. })
    ));
}

/// Map handles of one probe held at once, each its own fd on the same kernel map; a size set
/// between `open` and `load` is the kernel map's size; a map the probe lacks is an error there.
#[test]
fn map_handles_and_sizes_before_load() {
    if !kernel("map_handles_and_sizes_before_load") {
        return;
    }
    let spec = getpid_counter_spec();
    let probe = Probe::open(spec)
        .set_max_entries("counts", 77)
        .load()
        .expect("load");
    let mut a = BpfHashMap::<_, u32, u64>::try_from(probe.map_handle("counts").expect("a"))
        .expect("hash map");
    let b = BpfHashMap::<_, u32, u64>::try_from(probe.map_handle("counts").expect("b"))
        .expect("hash map");
    a.insert(5, 55, 0).expect("insert through a");
    assert_eq!(b.get(&5, 0).expect("seen through b"), 55);
    drop(probe);
    assert_eq!(b.get(&5, 0).expect("the map outlives the probe"), 55);
    let info = b.map().info().expect("info");
    assert_eq!(info.max_entries(), 77);
    let err = Probe::open(spec)
        .set_max_entries("countz", 1)
        .load()
        .expect_err("no such map");
    assert!(matches!(err, Error::UnknownMap { .. }), "{err}");
}

/// A filter attached to the caller's socket: returning 0 drops every datagram.
#[test]
fn attach_socket_to_callers_socket() {
    if !kernel("attach_socket_to_callers_socket") {
        return;
    }
    let mut asm = Asm::default();
    asm.mov_imm(0, 0).exit();
    let spec = spec(
        "drop_all",
        vec![],
        vec![Prog {
            name: "drop_all",
            section: "socket",
            kind: ProgramKind::SocketFilter { iface: None },
            asm,
            lines: &[],
        }],
    );
    let mut probe = Probe::load(spec).expect("load");
    assert!(matches!(
        probe.attach("drop_all"),
        Err(Error::NoAttachTarget { .. })
    ));
    assert_eq!(
        probe.attach_all().expect("attach_all"),
        ["drop_all"],
        "attach_all says which filter it left alone"
    );

    let rx = UdpSocket::bind("127.0.0.1:0").expect("bind");
    rx.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let tx = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let to = rx.local_addr().expect("addr");
    let mut buf = [0; 16];

    tx.send_to(b"before", to).expect("send");
    assert_eq!(rx.recv(&mut buf).expect("unfiltered datagram arrives"), 6);

    probe
        .attach_socket("drop_all", rx.as_fd())
        .expect("attach socket");
    tx.send_to(b"after", to).expect("send");
    assert!(
        rx.recv(&mut buf).is_err(),
        "filtered datagram was delivered"
    );
}

/// Counts getpid() per tgid in a hash map (lookup, atomic add, update); dropping the probe
/// detaches: a map fd kept past the drop stops changing, and the program is unloaded.
#[test]
fn tracepoint_counts_getpid_and_drop_detaches() {
    if !kernel("tracepoint_counts_getpid_and_drop_detaches") {
        return;
    }
    const N: usize = 100;
    let spec = getpid_counter_spec();
    let mut probe = Probe::load(spec).expect("load");
    probe.attach("on_getpid").expect("attach");
    probe.attach("on_getpid").expect("second attach is a no-op");

    getpid_n(N);
    let counted = count_for_me(probe.map("counts").expect("map"));
    assert!(counted >= N as u64, "counted {counted} < {N}");
    getpid_n(N);
    let counted2 = count_for_me(probe.map("counts").expect("map"));
    assert!(counted2 >= counted + N as u64, "second round: {counted2}");

    // Keep the map alive past the probe through a duplicated fd.
    let kept: OwnedFd = match probe.map("counts").expect("map") {
        Map::HashMap(data) => data.fd().as_fd().try_clone_to_owned().expect("dup"),
        other => panic!("unexpected map {other:?}"),
    };
    let prog_id = probe
        .ebpf()
        .program("on_getpid")
        .expect("program")
        .info()
        .expect("info")
        .id();
    drop(probe);

    let kept = Map::HashMap(MapData::from_fd(kept).expect("map from fd"));
    let before = count_for_me(&kept);
    getpid_n(N);
    assert_eq!(count_for_me(&kept), before, "detached program still counts");

    // Program release is RCU-deferred; poll for it to disappear.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let alive = ljbpf_runtime::aya::programs::loaded_programs()
            .filter_map(Result::ok)
            .any(|info| info.id() == prog_id);
        if !alive {
            break;
        }
        assert!(Instant::now() < deadline, "program {prog_id} still loaded");
        std::thread::sleep(Duration::from_millis(20));
    }
}

const BAD_LINES: &[LineEntry] = &[
    LineEntry {
        insn: 0,
        file: "probes/x.lua",
        line: 10,
    },
    LineEntry {
        insn: 2,
        file: "probes/x.lua",
        line: 12,
    },
    LineEntry {
        insn: 3,
        file: "probes/x.lua",
        line: 13,
    },
];

fn rejected_spec() -> &'static ProbeSpec {
    // insn 2 reads r2, which no one wrote; insn 3 of `no_r0` exits without setting r0.
    let mut uninit = Asm::default();
    uninit.mov_imm(0, 0).mov_imm(1, 1).mov(0, 2).exit();
    let mut no_r0 = Asm::default();
    no_r0.mov_imm(1, 0).mov_imm(2, 0).mov_imm(3, 0).exit();
    let mut good = Asm::default();
    good.mov_imm(0, 7).exit();
    let kind = ProgramKind::SocketFilter { iface: None };
    spec(
        "bad",
        vec![],
        vec![
            Prog {
                name: "good",
                section: "socket",
                kind: kind.clone(),
                asm: good,
                lines: &[],
            },
            Prog {
                name: "uninit",
                section: "socket",
                kind: kind.clone(),
                asm: uninit,
                lines: BAD_LINES,
            },
            Prog {
                name: "no_r0",
                section: "socket",
                kind: kind.clone(),
                asm: no_r0,
                lines: BAD_LINES,
            },
        ],
    )
}

#[test]
fn verifier_rejection_names_lua_line_and_verifier_text() {
    if !kernel("verifier_rejection_names_lua_line_and_verifier_text") {
        return;
    }
    let err = Probe::load(rejected_spec()).expect_err("verifier must reject");
    let Error::Verifier { source: rejected } = &err else {
        panic!("expected a verifier error, got {err:?}");
    };
    assert_eq!(rejected.program, "uninit");
    assert_eq!(rejected.insn, Some(2));
    assert_eq!(
        rejected.location,
        Some(SourceLocation {
            file: "probes/x.lua",
            line: 12
        })
    );
    assert!(rejected.message.contains("R2 !read_ok"), "{rejected:?}");
    assert!(rejected.log.contains("2: (bf) r0 = r2"), "{}", rejected.log);
    assert!(rejected.processed.is_some());
    let shown = err.to_string();
    assert!(
        shown.starts_with(
            "program uninit rejected by the verifier at probes/x.lua:12 (insn 2): R2 !read_ok\n"
        ),
        "{shown}"
    );
    eprintln!(
        "--- rejection as displayed ---\n{shown}\n--- full log ---\n{}",
        rejected.log
    );
}

#[test]
fn check_reports_processed_counts_and_verdicts() {
    if !kernel("check_reports_processed_counts_and_verdicts") {
        return;
    }
    let rows = check(rejected_spec()).expect("object loads");
    assert_eq!(rows.len(), 3);

    let good = &rows[0];
    assert_eq!(
        (good.name, good.kind, good.insns),
        ("good", "socket_filter", 2)
    );
    assert!(good.verdict.is_ok(), "{:?}", good.verdict);
    assert!(
        good.processed.is_some_and(|n| n > 0),
        "{:?}",
        good.processed
    );

    let Err(Error::Verifier { source: no_r0 }) = &rows[2].verdict else {
        panic!("no_r0 must be rejected: {:?}", rows[2].verdict);
    };
    assert_eq!(no_r0.insn, Some(3));
    assert_eq!(no_r0.location.map(|l| l.line), Some(13));
    assert!(no_r0.message.contains("R0 !read_ok"), "{no_r0:?}");
    assert!(rows[2].processed.is_some_and(|n| n > 0));
    assert!(matches!(rows[1].verdict, Err(Error::Verifier { .. })));
}

#[test]
fn kprobe_loads_but_attach_explains_missing_kprobes() {
    if !kernel("kprobe_loads_but_attach_explains_missing_kprobes") {
        return;
    }
    let mut asm = Asm::default();
    asm.mov_imm(0, 0).exit();
    let spec = spec(
        "kp",
        vec![],
        vec![Prog {
            name: "on_open",
            section: "kprobe/do_sys_openat2",
            kind: ProgramKind::Kprobe {
                function: "do_sys_openat2".into(),
                ret: false,
            },
            asm,
            lines: &[],
        }],
    );
    let mut probe = Probe::load(spec).expect("kprobe programs load without kprobes");
    let tracefs = ljbpf_runtime::ensure_tracefs().expect("tracefs");
    if tracefs.join("kprobe_events").exists() {
        eprintln!("kernel has kprobes; not checking the no-kprobes error");
        return;
    }
    let err = probe.attach("on_open").expect_err("no kprobes here");
    assert!(matches!(err, Error::NoKprobes { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("kernel has no kprobe support (CONFIG_KPROBES unset)"),
        "{err}"
    );
    assert!(matches!(probe.attach_all(), Err(Error::NoKprobes { .. })));
}

#[test]
fn unknown_names_are_errors() {
    if !kernel("unknown_names_are_errors") {
        return;
    }
    let mut probe = Probe::load(getpid_counter_spec()).expect("load");
    assert!(matches!(probe.map("nope"), Err(Error::UnknownMap { .. })));
    assert!(matches!(
        probe.attach("nope"),
        Err(Error::UnknownProgram { .. })
    ));
    assert!(probe.program_fd("on_getpid").is_ok());
    assert!(matches!(
        probe.test_run("on_getpid", &[0; 64], 1),
        Err(Error::WrongKind { .. })
    ));
}

/// The object disassembles with its map relocation (when llvm-objdump is installed).
#[test]
fn elf_disassembles_with_relocation() {
    let spec = getpid_counter_spec();
    let path = std::env::temp_dir().join(format!("ljbpf-rt-{}.o", std::process::id()));
    std::fs::write(&path, spec.elf).expect("write");
    let output = Command::new("llvm-objdump")
        .arg("-d")
        .arg("-r")
        .arg(&path)
        .output();
    let _ = std::fs::remove_file(&path);
    let Ok(output) = output else {
        eprintln!("skipping: llvm-objdump not installed");
        return;
    };
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("<on_getpid>:"), "{text}");
    assert!(text.contains("R_BPF_64_64\tcounts"), "{text}");
    assert!(text.contains("lock *(u64 *)(r0 + 0) += r1"), "{text}");
}

#[test]
fn a_failed_load_names_features_newer_than_the_kernel() {
    if !kernel("a_failed_load_names_features_newer_than_the_kernel") {
        return;
    }
    // The same rejected object, said to use one feature from a future kernel and one this
    // kernel has: only the future one is named, and the verifier's rejection stays the cause.
    const REQUIRES: &[ljbpf_runtime::Requirement] = &[
        ljbpf_runtime::Requirement {
            what: std::borrow::Cow::Borrowed("teleport maps (`t`)"),
            since: std::borrow::Cow::Borrowed("99.0"),
        },
        ljbpf_runtime::Requirement {
            what: std::borrow::Cow::Borrowed("hash maps (`h`)"),
            since: std::borrow::Cow::Borrowed("3.19"),
        },
    ];
    let future: &'static ProbeSpec = Box::leak(Box::new(ProbeSpec {
        requires: REQUIRES,
        ..rejected_spec().clone()
    }));
    let err = Probe::load(future).expect_err("verifier must reject");
    let Error::KernelTooOld { needs, source, .. } = &err else {
        panic!("expected the kernel to be named too old, got {err:?}");
    };
    assert_eq!(needs, "teleport maps (`t`) (Linux 99.0)");
    assert!(matches!(**source, Error::Verifier { .. }), "{source:?}");
    // With every feature present, the rejection is reported as it is.
    assert!(matches!(
        Probe::load(rejected_spec()).expect_err("verifier must reject"),
        Error::Verifier { .. }
    ));
}
