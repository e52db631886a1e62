//! `ljbpf run` on real events: the example probes (syscall counts, a latency histogram, bash
//! readline events, off-CPU stacks) and small probes written here (print lines, ring buffer
//! events, per-CPU sums, a socket filter on loopback, every exit path).
//!
//! Needs root (skipped otherwise unless `LJBPF_REQUIRE_KERNEL=1`).

use std::io::{BufRead, BufReader, Read};
use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ljbpf_examples::testing::{interactive_bash, kernel_available, log2_rows, row, Running};

const LJBPF: &str = env!("CARGO_BIN_EXE_ljbpf");

fn example(name: &str) -> String {
    format!("{}/../examples/probes/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// A probe file in a directory of its own, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str, probe: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("ljbpf-run-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("probe.lua"), probe).unwrap();
        Scratch(dir)
    }

    fn probe(&self) -> String {
        self.0.join("probe.lua").display().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `syscount.lua`: getpid, called N times here while the probe runs, has a row of at least N,
/// and the rows are sorted by count, largest first.
#[test]
fn syscount_shows_a_sorted_count_table() {
    if !kernel_available("syscount_shows_a_sorted_count_table") {
        return;
    }
    const N: u64 = 4321;
    let tool = Running::start(
        LJBPF,
        &[
            "run",
            &example("syscount.lua"),
            "--duration",
            "2",
            "--top",
            "1000",
        ],
    );
    for _ in 0..N {
        // SAFETY: getpid has no preconditions; the raw syscall is not cached by libc.
        unsafe { libc::syscall(libc::SYS_getpid) };
    }
    let report = tool.finish();
    let words = row(&report, "getpid").unwrap_or_else(|| panic!("no getpid row:\n{report}"));
    let count: u64 = words[1].parse().unwrap();
    assert!(count >= N, "getpid {count} < {N}:\n{report}");
    let header = report
        .lines()
        .position(|l| l.starts_with("SYSCALL"))
        .unwrap();
    let counts: Vec<u64> = report
        .lines()
        .skip(header + 1)
        .map_while(|l| l.split_whitespace().nth(1)?.parse().ok())
        .collect();
    assert!(counts.len() > 1, "{report}");
    assert!(
        counts.windows(2).all(|w| w[0] >= w[1]),
        "not sorted:\n{report}"
    );
}

/// `readlat.lua`: a log2 histogram that holds at least the reads made here.
#[test]
fn readlat_shows_a_log2_histogram() {
    if !kernel_available("readlat_shows_a_log2_histogram") {
        return;
    }
    const READS: u64 = 2000;
    let tool = Running::start(LJBPF, &["run", &example("readlat.lua"), "--duration", "2"]);
    let mut zero = std::fs::File::open("/dev/zero").unwrap();
    let mut buf = [0u8; 16];
    for _ in 0..READS {
        zero.read_exact(&mut buf).unwrap();
    }
    let report = tool.finish();
    assert!(report.contains(": count     distribution"), "{report}");
    let rows = log2_rows(&report);
    let total: u64 = rows.iter().map(|r| r.2).sum();
    assert!(
        total >= READS,
        "{total} reads counted, made {READS}:\n{report}"
    );
    assert_eq!(rows.first().map(|r| (r.0, r.1)), Some((0, 1)), "{report}");
    assert!(report.contains('*'), "no bars:\n{report}");
    // The hidden maps are not shown.
    assert!(!report.contains("config ("), "{report}");
}

/// `bashreadline.lua`: two commands typed into a real bash come out as two event lines with
/// their field names, bash's pid and the text.
#[test]
fn bashreadline_prints_event_lines() {
    if !kernel_available("bashreadline_prints_event_lines") {
        return;
    }
    let mut tool = Command::new(LJBPF)
        .args(["run", &example("bashreadline.lua"), "--duration", "60"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, lines) = mpsc::channel();
    let stdout = BufReader::new(tool.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in stdout.lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let first = lines
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_default();
    assert!(first.starts_with("Tracing"), "{first}");
    let commands = ["echo ljbpf-run-$((6 * 7))", "exit 3"];
    let (pid, code, terminal) = interactive_bash(format!("{}\n", commands.join("\n")).as_bytes());
    assert_eq!(code, Some(3), "{terminal}");
    let want: Vec<String> = commands
        .iter()
        .map(|c| format!(" pid={pid} str=\"{}\"", c.replace('"', "\\\"")))
        .collect();
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.len() < want.len() {
        let Ok(line) = lines.recv_timeout(deadline.saturating_duration_since(Instant::now()))
        else {
            break;
        };
        if line.contains(&format!(" pid={pid} ")) {
            seen.push(line);
        }
    }
    // SAFETY: kill has no memory-safety preconditions; the pid is our live child.
    unsafe { libc::kill(tool.id() as libc::pid_t, libc::SIGINT) };
    let status = tool.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert_eq!(seen.len(), 2, "{seen:?}");
    for (line, want) in seen.iter().zip(&want) {
        assert!(line.starts_with("events: ts="), "{line}");
        assert!(
            line.ends_with(want.as_str()),
            "{line:?} does not end with {want:?}"
        );
    }
}

/// `--pid` restricts uprobes to one process: with this test's own pid, a bash typed into
/// while the probe runs gives no event line.
#[test]
fn pid_restricts_uprobes_to_one_process() {
    if !kernel_available("pid_restricts_uprobes_to_one_process") {
        return;
    }
    let me = std::process::id().to_string();
    let tool = Running::start(
        LJBPF,
        &[
            "run",
            &example("bashreadline.lua"),
            "--pid",
            &me,
            "--duration",
            "3",
        ],
    );
    let (pid, code, terminal) = interactive_bash(b"echo ljbpf-run-pid\nexit 4\n");
    assert_eq!(code, Some(4), "{terminal}");
    let report = tool.finish();
    assert!(
        !report.contains(&format!(" pid={pid} ")) && !report.contains("ljbpf-run-pid"),
        "an event of bash {pid} despite --pid {me}:\n{report}"
    );
}

/// `offcputime.lua`: a thread that sleeps here shows up with its kernel stack symbolised
/// (the scheduler's functions) under its name.
#[test]
fn offcputime_shows_symbolised_stacks() {
    if !kernel_available("offcputime_shows_symbolised_stacks") {
        return;
    }
    let tool = Running::start(
        LJBPF,
        &[
            "run",
            &example("offcputime.lua"),
            "--duration",
            "2",
            "--top",
            "100000",
        ],
    );
    let sleeper = std::thread::Builder::new()
        .name("ljbpf-sleeper".into())
        .spawn(|| {
            for _ in 0..10 {
                std::thread::sleep(Duration::from_millis(100));
            }
        })
        .unwrap();
    sleeper.join().unwrap();
    let report = tool.finish();
    // The block of our thread: frames, then `-  pid=.. tgid=.. name="ljbpf-sleeper"`.
    let lines: Vec<&str> = report.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.contains("name=\"ljbpf-sleeper\""))
        .unwrap_or_else(|| panic!("no stack of the sleeping thread"));
    let start = lines[..at]
        .iter()
        .rposition(|l| l.trim().is_empty() || l.ends_with(':'))
        .map_or(0, |i| i + 1);
    let frames = &lines[start..at];
    assert!(
        frames.iter().any(|f| f.contains("schedule")),
        "no scheduler frame in {frames:#?}"
    );
    assert!(
        frames.iter().any(|f| f.contains("nanosleep")),
        "no nanosleep frame in {frames:#?}"
    );
    let tgid = std::process::id();
    assert!(
        lines[at].contains(&format!("tgid={tgid} ")),
        "{}",
        lines[at]
    );
    let total: u64 = lines[at + 1].trim().parse().unwrap();
    assert!(total >= 500_000, "{total} us off CPU for 1 s of sleeps");
}

/// `print()` lines, ring buffer events and a per-CPU counter of one probe, for this process
/// only: exactly as many of each as getppid calls made here.
#[test]
fn prints_print_lines_events_and_per_cpu_sums() {
    if !kernel_available("prints_print_lines_events_and_per_cpu_sums") {
        return;
    }
    const CALLS: usize = 7;
    let me = std::process::id();
    let scratch = Scratch::new(
        "print",
        &format!(
            "local ffi = require('ffi')
ffi.cdef[[ struct ev_t {{ uint32_t pid; int32_t n; char comm[16]; }}; ]]
local ring = bpf.map('ringbuf', 4096)
local calls = bpf.map('percpu_array', 4, 'uint32_t', 'uint64_t')
local seen = bpf.map('hash', 4, 'uint32_t', 'uint64_t', {{ show = 'hide' }})
return {{
  ring = ring, calls = calls, seen = seen,
  on_getppid = bpf.tracepoint('syscalls/sys_enter_getppid', function (ctx)
    local pid = pid_tgid() >> 32
    if pid ~= {me} then return end
    print('ljbpf-run-marker %d', pid)
    local e = ffi.new('struct ev_t')
    e.pid = pid
    e.n = -5
    comm(e.comm)
    ringbuf_output(ring, e)
    xadd(calls[2], 1)
    seen[1] = 1
  end),
}}
"
        ),
    );
    let tool = Running::start(LJBPF, &["run", &scratch.probe(), "--duration", "2"]);
    for _ in 0..CALLS {
        // SAFETY: getppid has no preconditions.
        unsafe { libc::getppid() };
    }
    let report = tool.finish();
    let prints = report
        .lines()
        .filter(|l| l.starts_with("print: ") && l.ends_with(&format!(": ljbpf-run-marker {me}")))
        .count();
    assert_eq!(prints, CALLS, "{report}");
    let events = report
        .lines()
        .filter(|l| l.starts_with(&format!("ring: pid={me} n=-5 comm=\"")))
        .count();
    assert_eq!(events, CALLS, "{report}");
    // The per-CPU array: one row, key 2, the sum over CPUs; the zero entries are left out.
    let table = report
        .split("calls (percpu_array, show = 'table'):\n")
        .nth(1)
        .unwrap();
    let mut rows = table.lines().skip(1).take_while(|l| !l.is_empty());
    assert_eq!(
        rows.next()
            .map(|l| l.split_whitespace().collect::<Vec<_>>()),
        Some(vec!["2", &CALLS.to_string()]),
        "{report}"
    );
    assert_eq!(rows.next(), None, "{report}");
    assert!(!report.contains("seen ("), "{report}");
}

/// A socket filter on loopback with `--iface lo` counts each datagram once (outgoing packets
/// are ignored there), exactly as many as were sent.
#[test]
fn socket_filter_on_loopback_counts_each_packet_once() {
    if !kernel_available("socket_filter_on_loopback_counts_each_packet_once") {
        return;
    }
    const SENT: usize = 25;
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = receiver.local_addr().unwrap().port();
    let scratch = Scratch::new(
        "socket",
        &format!(
            "local packets = bpf.map('array', 1, 'uint32_t', 'uint64_t')
return {{
  packets = packets,
  udp = bpf.socket(function (skb)
    if ntoh(pkt.type) ~= c.eth.ip or pkt.ip.proto ~= c.ip.proto_udp then return 0 end
    if ntoh(pkt.ip.udp.dst_port) ~= {port} then return 0 end
    xadd(packets[0], 1)
    return 0
  end),
}}
"
        ),
    );
    // Without an interface the filter has nowhere to go: a clear error, nothing loaded.
    let out = Command::new(LJBPF)
        .args(["run", &scratch.probe(), "--duration", "1"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("program `udp` is a socket filter without an interface")
            && stderr.contains("--iface"),
        "{stderr}"
    );

    let tool = Running::start(
        LJBPF,
        &["run", &scratch.probe(), "--iface", "lo", "--duration", "2"],
    );
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..SENT {
        sender.send_to(&[i as u8; 8], ("127.0.0.1", port)).unwrap();
    }
    let report = tool.finish();
    let words = row(&report, "0").unwrap_or_else(|| panic!("no row:\n{report}"));
    assert_eq!(words[1], SENT.to_string(), "{report}");
}

/// XDP and tc programs declared without an interface go to `--iface` too (the tc program on
/// its declared hook): on loopback each sees every datagram once, on arrival.
#[test]
fn xdp_and_tc_programs_run_on_the_iface() {
    if !kernel_available("xdp_and_tc_programs_run_on_the_iface") {
        return;
    }
    const SENT: usize = 25;
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = receiver.local_addr().unwrap().port();
    let scratch = Scratch::new(
        "xdp-tc",
        &format!(
            "local packets = bpf.map('array', 2, 'uint32_t', 'uint64_t')
return {{
  packets = packets,
  at_xdp = bpf.xdp(function (ctx)
    if ntoh(pkt.type) == c.eth.ip and pkt.ip.proto == c.ip.proto_udp
        and ntoh(pkt.ip.udp.dst_port) == {port} then
      xadd(packets[0], 1)
    end
    return XDP_PASS
  end),
  at_tc = bpf.tc(nil, 'ingress', function (skb)
    if ntoh(pkt.type) == c.eth.ip and pkt.ip.proto == c.ip.proto_udp
        and ntoh(pkt.ip.udp.dst_port) == {port} then
      xadd(packets[1], 1)
    end
    return TC_ACT_OK
  end),
}}
"
        ),
    );
    let out = Command::new(LJBPF)
        .args(["run", &scratch.probe(), "--duration", "1"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("program `at_tc` is a tc program without an interface")
            && stderr.contains("--iface"),
        "{stderr}"
    );

    let tool = Running::start(
        LJBPF,
        &["run", &scratch.probe(), "--iface", "lo", "--duration", "2"],
    );
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..SENT {
        sender.send_to(&[i as u8; 8], ("127.0.0.1", port)).unwrap();
    }
    let report = tool.finish();
    for key in ["0", "1"] {
        let words = row(&report, key).unwrap_or_else(|| panic!("no row {key}:\n{report}"));
        assert_eq!(words[1], SENT.to_string(), "row {key}:\n{report}");
    }
}

/// `--interval` shows the maps while the probe runs, with growing counts, and the last
/// interval is not shown twice.
#[test]
fn interval_shows_growing_maps() {
    if !kernel_available("interval_shows_growing_maps") {
        return;
    }
    let me = std::process::id();
    let scratch = Scratch::new(
        "interval",
        &format!(
            "local n = bpf.map('array', 1, 'uint32_t', 'uint64_t')
return {{
  n = n,
  on_getppid = bpf.tracepoint('syscalls/sys_enter_getppid', function (ctx)
    if pid_tgid() >> 32 == {me} then xadd(n[0], 1) end
  end),
}}
"
        ),
    );
    let tool = Running::start(
        LJBPF,
        &[
            "run",
            &scratch.probe(),
            "--interval",
            "1",
            "--duration",
            "3",
        ],
    );
    let stop = Instant::now() + Duration::from_millis(2500);
    while Instant::now() < stop {
        // SAFETY: getppid has no preconditions.
        unsafe { libc::getppid() };
        std::thread::sleep(Duration::from_millis(10));
    }
    let report = tool.finish();
    let headers: Vec<&str> = report.lines().filter(|l| l.starts_with("--- ")).collect();
    assert_eq!(headers, ["--- 1 s", "--- 2 s"], "{report}");
    // The value under each `n (...)` header: one per interval, then the final one.
    let lines: Vec<&str> = report.lines().collect();
    let counts: Vec<u64> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.starts_with("n (array"))
        .map(|(i, _)| {
            lines[i + 2]
                .split_whitespace()
                .nth(1)
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(counts.len(), 3, "{report}");
    assert!(
        counts.windows(2).all(|w| w[0] < w[1]),
        "{counts:?}\n{report}"
    );
}

/// SIGTERM ends a run without `--duration` like Ctrl-C: the maps are shown, the exit status
/// is 0, the tracefs instance is removed and the programs are gone from the kernel.
#[test]
fn sigterm_shows_the_maps_and_detaches() {
    if !kernel_available("sigterm_shows_the_maps_and_detaches") {
        return;
    }
    let scratch = Scratch::new(
        "sigterm",
        "local n = bpf.map('array', 1, 'uint32_t', 'uint64_t')
return {
  n = n,
  ljbpf_run_sigterm = bpf.tracepoint('syscalls/sys_enter_getppid', function (ctx)
    print('x')
    xadd(n[0], 1)
  end),
}
",
    );
    let mut tool = Command::new(LJBPF)
        .args(["run", &scratch.probe()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(tool.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(first.starts_with("Tracing"), "{first}");
    let instance = format!("/sys/kernel/tracing/instances/ljbpf-run-{}", tool.id());
    assert!(std::path::Path::new(&instance).is_dir(), "{instance}");
    assert!(program_loaded("ljbpf_run_sigte"), "program not loaded");
    // SAFETY: kill has no memory-safety preconditions; the pid is our live child.
    unsafe {
        libc::getppid();
        libc::kill(tool.id() as libc::pid_t, libc::SIGTERM);
    }
    let status = tool.wait().unwrap();
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert!(status.success(), "{status:?}\n{rest}");
    assert!(rest.contains("n (array, show = 'table'):"), "{rest}");
    assert!(
        !std::path::Path::new(&instance).exists(),
        "{instance} left behind"
    );
    assert!(!program_loaded("ljbpf_run_sigte"), "program still loaded");
}

/// A reader that goes away (`ljbpf run ... | head -1`) ends the run at the next line it would
/// have read, with the same clean detach as Ctrl-C: the tracefs instance is removed.
#[test]
fn a_closed_pipe_ends_the_run_cleanly() {
    if !kernel_available("a_closed_pipe_ends_the_run_cleanly") {
        return;
    }
    let me = std::process::id();
    let scratch = Scratch::new(
        "pipe",
        &format!(
            "return {{
  ljbpf_run_pipe = bpf.tracepoint('syscalls/sys_enter_getppid', function (ctx)
    if pid_tgid() >> 32 == {me} then print('ljbpf-run-pipe') end
  end),
}}
"
        ),
    );
    let mut tool = Command::new(LJBPF)
        .args(["run", &scratch.probe()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(tool.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(first.starts_with("Tracing"), "{first}");
    let instance = format!("/sys/kernel/tracing/instances/ljbpf-run-{}", tool.id());
    drop(stdout);
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        // SAFETY: getppid has no preconditions.
        unsafe { libc::getppid() };
        if let Some(status) = tool.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "ljbpf run did not end");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    assert!(
        !std::path::Path::new(&instance).exists(),
        "{instance} left behind"
    );
}

/// Whether a BPF program named `name` (the kernel keeps 15 bytes of a name) is loaded: the
/// kernel's list of program ids (`BPF_PROG_GET_NEXT_ID`), each asked for its name
/// (`BPF_OBJ_GET_INFO_BY_FD`), without bpftool.
fn program_loaded(name: &str) -> bool {
    #[repr(C)]
    #[derive(Default)]
    struct NextId {
        start_id: u32,
        next_id: u32,
        open_flags: u32,
    }
    #[repr(C)]
    struct InfoByFd {
        bpf_fd: u32,
        info_len: u32,
        info: u64,
    }
    // struct bpf_prog_info: the name is at offset 64 (BPF_OBJ_NAME_LEN 16 bytes).
    let mut id = 0u32;
    loop {
        let mut attr = NextId {
            start_id: id,
            ..NextId::default()
        };
        // SAFETY: `attr` is a valid bpf_attr prefix for BPF_PROG_GET_NEXT_ID (11).
        let ret = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                11,
                &mut attr as *mut NextId,
                std::mem::size_of::<NextId>(),
            )
        };
        if ret != 0 {
            return false;
        }
        id = attr.next_id;
        let mut by_id = NextId {
            start_id: id,
            ..NextId::default()
        };
        // SAFETY: BPF_PROG_GET_FD_BY_ID (13) takes the id in the first word.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                13,
                &mut by_id as *mut NextId,
                std::mem::size_of::<NextId>(),
            )
        };
        if fd < 0 {
            continue;
        }
        let mut info = [0u8; 256];
        let mut attr = InfoByFd {
            bpf_fd: fd as u32,
            info_len: info.len() as u32,
            info: info.as_mut_ptr() as u64,
        };
        // SAFETY: BPF_OBJ_GET_INFO_BY_FD (15) writes at most info_len bytes to `info`.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                15,
                &mut attr as *mut InfoByFd,
                std::mem::size_of::<InfoByFd>(),
            )
        };
        // SAFETY: `fd` is ours.
        unsafe { libc::close(fd as i32) };
        if ret == 0 {
            let raw = &info[64..80];
            let end = raw.iter().position(|&b| b == 0).unwrap_or(16);
            if &raw[..end] == name.as_bytes() {
                return true;
            }
        }
    }
}
