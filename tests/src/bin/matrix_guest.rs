//! The kernel matrix's test driver (`tests/tests/kernel_matrix.rs` runs it in each qemu guest
//! and on the host): runs the host-built tools on real events of the kernel it runs on and
//! prints one line per test,
//!
//! ```text
//! MATRIX-RESULT <test> PASS|FAIL <detail on one line>
//! ```
//!
//! then `MATRIX-DONE <count>`. A test fails by panicking or returning an error; its message is
//! the detail.
//!
//! Usage: `matrix_guest BIN_DIR PROBE_DIR` where BIN_DIR holds the release binaries of the
//! example tools and `ljbpf` (the CLI), and PROBE_DIR holds `corpus/*.lua` and
//! `examples/*.lua`. `bpftool` is found in /usr/sbin, /sbin or on PATH; `bashreadline`'s test
//! types into an interactive `/bin/bash`.
//!
//! The tests: each example tool on events the driver makes (the checks of its host test in
//! `examples/tests/`, some trimmed), the corpus kprobes and tracing kinds (raw and BTF
//! tracepoints, fentry/fexit, perf events) attached and counting, and for every
//! probe file `ljbpf check` (this kernel's verifier) and `bpftool prog loadall` of the object
//! `ljbpf compile` writes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ljbpf_examples::testing::{bar_count, log2_rows, row, Running};
use ljbpf_tests::corpus::{fentry, fork, kprobe, perf_event, raw_tp, tp_btf};

// Compiled by build.rs with the rest of the corpus; not in `ljbpf_tests::corpus`.
ljbpf_runtime::include_probe!("seed_kcount");

/// How long each tool traces: long enough for the events a test makes under TCG emulation.
const DURATION: &str = "3";

/// The message of the last panic, for the result line (the default hook would print it among
/// the results).
static PANIC: Mutex<String> = Mutex::new(String::new());

type Outcome = Result<(), String>;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [bins, probes] = args.as_slice() else {
        eprintln!("usage: matrix_guest BIN_DIR PROBE_DIR");
        std::process::exit(2);
    };
    let env = Env {
        bins: PathBuf::from(bins),
        probes: PathBuf::from(probes),
    };
    std::panic::set_hook(Box::new(|info| {
        *PANIC.lock().unwrap_or_else(|e| e.into_inner()) = info.to_string();
    }));

    let mut count = 0;
    let mut run = |name: &str, test: &dyn Fn() -> Outcome| {
        let started = Instant::now();
        let outcome = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(test)) {
            Ok(outcome) => outcome,
            Err(_) => Err(std::mem::take(
                &mut *PANIC.lock().unwrap_or_else(|e| e.into_inner()),
            )),
        };
        let (verdict, detail) = match outcome {
            Ok(()) => ("PASS", String::new()),
            Err(e) => ("FAIL", one_line(&e)),
        };
        println!(
            "MATRIX-RESULT {name} {verdict} ({:.1} s) {detail}",
            started.elapsed().as_secs_f64()
        );
        // The serial console is the only way out of a guest: nothing may wait in a buffer.
        let _ = std::io::stdout().flush();
        count += 1;
    };

    run("syscount.getpid", &|| syscount(&env));
    run("sockproto.lo", &|| sockproto(&env));
    run("dnshist.lo", &|| dnshist(&env));
    run("httpmethods.lo", &|| httpmethods(&env));
    run("readlat.pid", &|| readlat(&env));
    run("offcputime.sleep", &|| offcputime(&env));
    run("bashreadline.bash", &|| bashreadline(&env));
    run("kprobe.openat2", &kprobe_openat2);
    run("kprobe.seed_kcount", &seed_kcount_own_target);
    run("kprobe.seed_kcount@ksys_write", &seed_kcount_ksys_write);
    run("relocate.fork", &relocate_fork);
    run("raw_tp.getpid", &raw_tp_getpid);
    run("tp_btf.sched_switch", &tp_btf_sched_switch);
    run("fentry.openat2", &fentry_openat2);
    run("perf_event.clock", &perf_event_clock);
    run("profile.spin", &|| profile_spin(&env));
    run("netkinds.test_run", &|| {
        netkinds_test_run(&env, &["xdp", "tc"])
    });
    run("netkinds.test_run_cgroup", &|| {
        netkinds_test_run(&env, &["cgroup_skb"])
    });
    for probe in env.probe_files() {
        let name = probe.file_stem().unwrap().to_string_lossy().into_owned();
        let dir = probe
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy();
        run(&format!("check.{dir}/{name}"), &|| env.check(&probe));
        run(&format!("bpftool.{dir}/{name}"), &|| env.bpftool(&probe));
    }
    println!("MATRIX-DONE {count}");
}

/// Where the binaries and probe files are.
struct Env {
    bins: PathBuf,
    probes: PathBuf,
}

impl Env {
    fn bin(&self, name: &str) -> String {
        self.bins.join(name).to_string_lossy().into_owned()
    }

    /// `corpus/*.lua` then `examples/*.lua`, sorted.
    fn probe_files(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        for dir in ["corpus", "examples"] {
            let mut these: Vec<PathBuf> = std::fs::read_dir(self.probes.join(dir))
                .map(|d| d.filter_map(|e| Some(e.ok()?.path())).collect())
                .unwrap_or_default();
            these.retain(|p| p.extension().is_some_and(|e| e == "lua"));
            these.sort();
            files.extend(these);
        }
        files
    }

    /// `ljbpf check FILE`: every program of the file through this kernel's verifier.
    fn check(&self, probe: &Path) -> Outcome {
        let out = Command::new(self.bin("ljbpf"))
            .arg("check")
            .arg(probe)
            .output()
            .map_err(|e| format!("spawn ljbpf: {e}"))?;
        status(&out, "ljbpf check")
    }

    /// `ljbpf compile FILE` then `bpftool prog loadall`: the object loads with a standard
    /// loader (libbpf).
    fn bpftool(&self, probe: &Path) -> Outcome {
        let stem = probe.file_stem().unwrap().to_string_lossy();
        let object = std::env::temp_dir().join(format!("matrix-{stem}.o"));
        let out = Command::new(self.bin("ljbpf"))
            .arg("compile")
            .arg(probe)
            .arg("-o")
            .arg(&object)
            .output()
            .map_err(|e| format!("spawn ljbpf: {e}"))?;
        status(&out, "ljbpf compile")?;
        let pin = format!("/sys/fs/bpf/matrix-{stem}");
        let bpftool = ["/usr/sbin/bpftool", "/sbin/bpftool"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .unwrap_or("bpftool");
        let out = Command::new(bpftool)
            .args(["prog", "loadall"])
            .arg(&object)
            .arg(&pin)
            .output()
            .map_err(|e| format!("spawn bpftool: {e}"))?;
        let _ = std::fs::remove_dir_all(&pin);
        let _ = std::fs::remove_file(&object);
        status(&out, "bpftool prog loadall")
    }
}

/// Ok for a successful command, else its exit status and the lines of its output that say
/// why: those naming an error or a rejection (they name the Lua line), then the last one (the
/// verifier's own words). libbpf's lines are bpftool's reasons.
fn status(out: &std::process::Output, what: &str) -> Outcome {
    if out.status.success() {
        return Ok(());
    }
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut why: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            l.contains("error") || l.contains("rejected") || l.starts_with("libbpf:")
        })
        .take(3)
        .collect();
    if let Some(last) = lines.last().filter(|l| !why.contains(l)) {
        why.push(last);
    }
    Err(format!("{what}: {}: {}", out.status, why.join("\n")))
}

/// An error and its sources, `: `-separated (aya's errors name a path and leave the reason to
/// their source).
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(&format!(": {e}"));
        source = e.source();
    }
    text
}

/// A message as one line of at most 400 characters: results are one line each.
fn one_line(message: &str) -> String {
    let line = message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" | ");
    match line.char_indices().nth(400) {
        Some((i, _)) => format!("{}...", &line[..i]),
        None => line,
    }
}

/// `Err(message)` unless `condition`.
fn ensure(condition: bool, message: impl FnOnce() -> String) -> Outcome {
    if condition {
        Ok(())
    } else {
        Err(message())
    }
}

/// `ljbpf test-run` of the corpus's XDP, tc and cgroup skb probes (as
/// `tests/tests/netkinds.rs`): an IPv4 UDP frame to port 9 with TTL 1 and a payload of 0xff
/// bytes gets each program's verdict, and the same frame cut before the UDP header ends each
/// program with its kind's pass verdict (direct packet access with the bounds checks this
/// kernel's verifier needs). Only the cases of the corpus probes named in `probes`: cgroup skb
/// programs are a result of their own: `BPF_PROG_TEST_RUN` set their packet's end only from a
/// 2025 kernel fix (selftest `cgroup_skb_prog_run_direct_packet_access`; 6.1 and 6.12 lack
/// it, so every direct read there falls outside), while the real hook always sets it.
fn netkinds_test_run(env: &Env, probes: &[&str]) -> Outcome {
    let mut frame = vec![0u8; 14];
    frame[12] = 0x08;
    frame.extend_from_slice(&[
        0x45, 0, 0, 36, 0, 0, 0x40, 0, 1, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ]);
    frame.extend_from_slice(&[0x30, 0x39, 0, 9, 0, 16, 0, 0]);
    frame.extend_from_slice(&[0xff; 8]);
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    // (probe, program, bytes of the frame, retval)
    let cases: &[(&str, &str, usize, u32)] = &[
        ("xdp", "classify", frame.len(), 1),
        ("xdp", "classify", 20, 2),
        ("xdp", "reflect", frame.len(), 3),
        ("tc", "egress", frame.len(), 3),
        ("tc", "egress", 34, 0),
        ("cgroup_skb", "sent", frame.len(), 0),
        ("cgroup_skb", "sent", 34, 1),
    ];
    for &(probe, program, len, want) in cases {
        if !probes.contains(&probe) {
            continue;
        }
        let file = env.probes.join("corpus").join(format!("{probe}.lua"));
        let out = Command::new(env.bin("ljbpf"))
            .arg("test-run")
            .arg(&file)
            .args(["--program", program, "--data", &hex(&frame[..len])])
            .output()
            .map_err(|e| format!("spawn ljbpf: {e}"))?;
        status(&out, "ljbpf test-run")?;
        let text = String::from_utf8_lossy(&out.stdout);
        let got = text
            .lines()
            .find_map(|l| l.strip_prefix("retval: "))
            .unwrap_or("none");
        ensure(got == want.to_string(), || {
            format!("{probe}/{program} on {len} bytes: retval {got}, want {want}")
        })?;
    }
    Ok(())
}

/// `syscount --pid P` counts exactly the K getpid calls of P (as `examples/tests/syscount.rs`).
fn syscount(env: &Env) -> Outcome {
    const K: u64 = 1234;
    let mut child = Command::new(env.bin("getpid_loop"))
        .arg(K.to_string())
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn getpid_loop: {e}"))?;
    let pid = child.id().to_string();
    let tool = Running::start(
        &env.bin("syscount"),
        &["--duration", DURATION, "--top", "50", "--pid", &pid],
    );
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    ensure(child.wait().unwrap().success(), || {
        "getpid_loop failed".into()
    })?;
    let report = tool.finish();
    let count = |name: &str| row(&report, name).and_then(|w| w.get(1)?.parse::<u64>().ok());
    ensure(count("getpid") == Some(K), || {
        format!("getpid: {:?}, not {K}:\n{report}", count("getpid"))
    })?;
    ensure(count("exit_group") == Some(1), || {
        format!("exit_group not 1:\n{report}")
    })
}

/// UDP datagrams and TCP connections on `lo` are in the udp and tcp rows.
fn sockproto(env: &Env) -> Outcome {
    const UDP: u64 = 40;
    let tool = Running::start(
        &env.bin("sockproto"),
        &["--duration", DURATION, "--iface", "lo"],
    );
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    for _ in 0..UDP {
        sender
            .send_to(&[b'u'; 100], sink.local_addr().unwrap())
            .unwrap();
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut buf = [0; 4];
        conn.read_exact(&mut buf).unwrap();
        conn.write_all(&buf).unwrap();
    });
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.write_all(b"ping").unwrap();
    conn.read_exact(&mut [0; 4]).unwrap();
    drop(conn);
    server.join().unwrap();
    let report = tool.finish();
    let packets = |proto: &str| row(&report, proto).and_then(|w| w.get(2)?.parse::<u64>().ok());
    ensure(packets("17").is_some_and(|n| n >= UDP), || {
        format!("fewer than {UDP} udp packets:\n{report}")
    })?;
    ensure(packets("6").is_some_and(|n| n >= 5), || {
        format!("fewer than 5 tcp packets:\n{report}")
    })
}

/// A DNS query for `name` of type `qtype` (as `examples/tests/dnshist.rs`).
fn dns_query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut packet = Vec::new();
    packet.extend_from_slice(&id.to_be_bytes());
    packet.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        packet.push(u8::try_from(label.len()).unwrap());
        packet.extend_from_slice(label.as_bytes());
    }
    packet.push(0);
    packet.extend_from_slice(&qtype.to_be_bytes());
    packet.extend_from_slice(&1u16.to_be_bytes());
    packet
}

/// Exact query-type counts for queries to a port of ours; queries to another port are not
/// counted.
fn dnshist(env: &Env) -> Outcome {
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let other = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port_arg = port.to_string();
    let tool = Running::start(
        &env.bin("dnshist"),
        &["--duration", DURATION, "--port", &port_arg],
    );
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sent = [
        ("example.com", 1, 7),
        ("www.example.org", 28, 5),
        ("x", 16, 2),
    ];
    let mut id = 0;
    for (name, qtype, n) in sent {
        for _ in 0..n {
            id += 1;
            socket
                .send_to(&dns_query(id, name, qtype), server.local_addr().unwrap())
                .unwrap();
        }
    }
    socket
        .send_to(
            &dns_query(99, "example.com", 15),
            other.local_addr().unwrap(),
        )
        .unwrap();
    let report = tool.finish();
    for (name, n) in [
        ("A", Some(7)),
        ("AAAA", Some(5)),
        ("TXT", Some(2)),
        ("MX", None),
    ] {
        ensure(bar_count(&report, name) == n, || {
            format!("{name}: not {n:?}:\n{report}")
        })?;
    }
    Ok(())
}

/// Requests per method to a server of ours, counted exactly.
fn httpmethods(env: &Env) -> Outcome {
    let sent = [("GET", 3), ("POST", 2), ("DELETE", 1)];
    let total: usize = sent.iter().map(|s| s.1).sum();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        for _ in 0..total {
            let (conn, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(conn);
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap() > 0 && !line.ends_with("\r\n\r\n") {}
            reader
                .into_inner()
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .unwrap();
        }
    });
    let port_arg = port.to_string();
    let tool = Running::start(
        &env.bin("httpmethods"),
        &["--duration", DURATION, "--port", &port_arg],
    );
    for (method, n) in sent {
        for _ in 0..n {
            let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
            conn.write_all(format!("{method} / HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
                .unwrap();
            let mut response = String::new();
            conn.read_to_string(&mut response).unwrap();
        }
    }
    server.join().unwrap();
    let report = tool.finish();
    for (method, n) in sent {
        ensure(bar_count(&report, method) == Some(n as u64), || {
            format!("{method}: not {n}:\n{report}")
        })?;
    }
    Ok(())
}

/// `readlat --pid P` counts exactly the slow and fast reads of P (as
/// `examples/tests/readlat.rs`).
fn readlat(env: &Env) -> Outcome {
    const SLOW: u64 = 5;
    const FAST: u64 = 50;
    const SLEEP_US: u64 = 5000;
    let mut child = Command::new(env.bin("read_loop"))
        .args([SLOW, FAST, SLEEP_US].map(|n| n.to_string()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn read_loop: {e}"))?;
    let mut ready = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    ensure(ready == "ready\n", || format!("read_loop: {ready:?}"))?;
    let pid = child.id().to_string();
    let tool = Running::start(
        &env.bin("readlat"),
        &["--duration", DURATION, "--pid", &pid],
    );
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    ensure(child.wait().unwrap().success(), || {
        "read_loop failed".into()
    })?;
    let report = tool.finish();
    let rows = log2_rows(&report);
    let total: u64 = rows.iter().map(|r| r.2).sum();
    ensure(total == SLOW + FAST, || {
        format!("{total} reads, not {}:\n{report}", SLOW + FAST)
    })?;
    let slow: u64 = rows.iter().filter(|r| r.0 >= 4096).map(|r| r.2).sum();
    ensure(slow >= SLOW, || format!("{slow} slow reads:\n{report}"))
}

/// A thread of this process that sleeps 300 ms is off CPU that long in `do_nanosleep`.
fn offcputime(env: &Env) -> Outcome {
    let me = std::process::id().to_string();
    let tool = Running::start(
        &env.bin("offcputime"),
        &["--duration", DURATION, "--pid", &me],
    );
    let sleeper = std::thread::Builder::new()
        .name("matrix-sleeper".into())
        .spawn(|| std::thread::sleep(Duration::from_millis(300)))
        .unwrap();
    sleeper.join().unwrap();
    let report = tool.finish();
    // bcc's multi-line format: frames, `    -                comm (tid)`, the total in µs.
    let mut frames = Vec::new();
    let mut lines = report.lines();
    let mut found = false;
    while let Some(line) = lines.next() {
        if line.trim().is_empty() {
            frames.clear();
        } else if line.starts_with("    -") && line.contains("matrix-sleeper") {
            let us: u64 = lines
                .next()
                .and_then(|l| l.trim().parse().ok())
                .unwrap_or(0);
            if us >= 290_000 && frames.iter().any(|f| f == "do_nanosleep") {
                found = true;
            }
        } else {
            frames.push(line.trim().to_owned());
        }
    }
    ensure(
        found || report.contains("WARNING: the kernel skipped"),
        || format!("no stack of matrix-sleeper in do_nanosleep for >= 290 ms:\n{report}"),
    )
}

/// Two commands typed into an interactive bash (readline on a pseudo-terminal) come out of
/// `bashreadline` with bash's pid, in order (as `examples/tests/bashreadline.rs`).
fn bashreadline(env: &Env) -> Outcome {
    let mut tool = Command::new(env.bin("bashreadline"))
        .args(["--duration", DURATION])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn bashreadline: {e}"))?;
    // The header says the uretprobe is attached.
    let mut stdout = BufReader::new(tool.stdout.take().unwrap());
    let mut header = String::new();
    stdout.read_line(&mut header).unwrap();
    let typed = if header.starts_with("TIME      PID    COMMAND") {
        interactive_bash(b"echo matrix-$((6 * 7))\nexit 3\n")
    } else {
        Err("no header".into())
    };
    let mut report = header;
    stdout.read_to_string(&mut report).unwrap();
    let mut stderr = String::new();
    tool.stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = tool.wait().unwrap();
    ensure(status.success(), || format!("{status}: {report}{stderr}"))?;
    let (pid, code, terminal) = typed.map_err(|e| format!("{e}: {report}{stderr}"))?;
    ensure(code == Some(3) && terminal.contains("matrix-42"), || {
        format!("bash exited {code:?}: {terminal}")
    })?;
    // `{time:<9} {pid:<6} {command}`
    let mine: Vec<&str> = report
        .lines()
        .filter_map(|line| {
            let rest = line.get(10..)?;
            let who = rest.split(' ').next()?;
            (who == pid.to_string()).then(|| rest.get(who.len().max(6) + 1..))?
        })
        .collect();
    ensure(mine == ["echo matrix-$((6 * 7))", "exit 3"], || {
        format!("the lines of bash {pid}: {mine:?}:\n{report}")
    })
}

/// Runs an interactive bash on a new pseudo-terminal, typed `input`; returns its pid, exit
/// code and what it printed on the terminal.
fn interactive_bash(input: &[u8]) -> Result<(u32, Option<i32>, String), String> {
    use std::os::unix::process::CommandExt;
    // SAFETY: plain libc calls on the fds they return; every result is checked.
    let (master, slave) = unsafe {
        let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        if master < 0
            || libc::grantpt(master) != 0
            || libc::unlockpt(master) != 0
            || libc::ptsname(master).is_null()
        {
            return Err(format!("pty: {}", std::io::Error::last_os_error()));
        }
        let name = std::ffi::CStr::from_ptr(libc::ptsname(master));
        let master = std::fs::File::from_raw_fd(master);
        let slave = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(name.to_str().map_err(|e| e.to_string())?)
            .map_err(|e| format!("{name:?}: {e}"))?;
        (master, slave)
    };
    let mut bash = Command::new("/bin/bash");
    bash.args(["--norc", "--noprofile", "-i"])
        .env_clear()
        .env("TERM", "dumb")
        .env("INPUTRC", "/dev/null")
        .env("PS1", "$ ")
        .stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        bash.pre_exec(|| {
            // A session of its own with the pty as controlling terminal, as a login shell has.
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = bash.spawn().map_err(|e| format!("spawn bash: {e}"))?;
    drop(bash); // closes our copies of the slave: reading the master ends when bash exits
    let mut master = master;
    master.write_all(input).unwrap();
    let mut reader = master.try_clone().unwrap();
    let output = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = reader.read_to_end(&mut out); // EIO once bash is gone
        String::from_utf8_lossy(&out).into_owned()
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err("bash did not exit within 30 s".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(master);
    Ok((child.id(), status.code(), output.join().unwrap()))
}

/// The corpus's kprobe on `do_sys_openat2` counts every open of this process (and any other's:
/// at least as many as we made).
fn kprobe_openat2() -> Outcome {
    const N: u64 = 50;
    let mut probe = kprobe::Probe::load().map_err(|e| format!("load: {}", chain(&e)))?;
    probe
        .attach_all()
        .map_err(|e| format!("attach: {}", chain(&e)))?;
    for _ in 0..N {
        std::fs::File::open("/proc/self/stat").unwrap();
    }
    let hits: u64 = probe
        .hits()
        .map_err(|e| format!("hits map: {}", chain(&e)))?
        .iter()
        .filter_map(Result::ok)
        .map(|(_, n)| n)
        .sum();
    ensure(hits >= N, || format!("{hits} opens counted, made {N}"))
}

/// `corpus/raw_tp.lua` counts getpid(2) by syscall number (argument 1 of `sys_enter`).
fn raw_tp_getpid() -> Outcome {
    const N: u64 = 50;
    const SYS_GETPID: u64 = 39;
    let mut probe = raw_tp::Probe::load().map_err(|e| format!("load: {}", chain(&e)))?;
    probe
        .attach_all()
        .map_err(|e| format!("attach: {}", chain(&e)))?;
    for _ in 0..N {
        // SAFETY: getpid has no preconditions; the raw syscall avoids any libc caching.
        unsafe { libc::syscall(libc::SYS_getpid) };
    }
    probe.inner().detach("on_enter").map_err(|e| chain(&e))?;
    let n = probe
        .by_id()
        .map_err(|e| format!("by_id map: {}", chain(&e)))?
        .get(&SYS_GETPID, 0)
        .unwrap_or(0);
    ensure(n >= N, || format!("{n} getpid calls counted, made {N}"))
}

/// `corpus/tp_btf.lua` counts this process's switches in (`ctx.next.tgid`, read through the
/// BTF-typed pointer) while it sleeps.
fn tp_btf_sched_switch() -> Outcome {
    const N: u64 = 10;
    let mut probe = tp_btf::Probe::load().map_err(|e| format!("load: {}", chain(&e)))?;
    probe
        .attach_all()
        .map_err(|e| format!("attach: {}", chain(&e)))?;
    for _ in 0..N {
        std::thread::sleep(Duration::from_millis(2));
    }
    probe.inner().detach("on_switch").map_err(|e| chain(&e))?;
    let n = probe
        .switches()
        .map_err(|e| format!("switches map: {}", chain(&e)))?
        .get(&std::process::id(), 0)
        .unwrap_or(0);
    ensure(n >= N, || {
        format!("{n} switches in counted, slept {N} times")
    })
}

/// `corpus/fentry.lua` on do_sys_openat2: fentry sees `dfd` (AT_FDCWD), fexit the return
/// value (-ENOENT) of opens of a path that does not exist.
fn fentry_openat2() -> Outcome {
    const N: u64 = 50;
    let mut probe = fentry::Probe::load().map_err(|e| format!("load: {}", chain(&e)))?;
    probe
        .attach_all()
        .map_err(|e| format!("attach: {}", chain(&e)))?;
    for _ in 0..N {
        let _ = std::fs::File::open("/nonexistent/matrix-fentry");
    }
    probe.inner().detach("on_open").map_err(|e| chain(&e))?;
    probe.inner().detach("on_return").map_err(|e| chain(&e))?;
    let opens = probe
        .opens()
        .map_err(|e| format!("opens map: {}", chain(&e)))?;
    let at_cwd = opens.get(&0, 0).unwrap_or(0);
    let failed = opens.get(&2, 0).unwrap_or(0);
    ensure(at_cwd >= N && failed >= N, || {
        format!("fentry counted {at_cwd} AT_FDCWD opens, fexit {failed} failed ones; made {N}")
    })
}

/// `corpus/perf_event.lua`: the CPU clock sampled on every CPU sees this process while it
/// spins, with a sample period.
fn perf_event_clock() -> Outcome {
    let mut probe = perf_event::Probe::load().map_err(|e| format!("load: {}", chain(&e)))?;
    probe
        .attach_all()
        .map_err(|e| format!("attach: {}", chain(&e)))?;
    let until = Instant::now() + Duration::from_millis(1500);
    let mut x = 0u64;
    while Instant::now() < until {
        x = std::hint::black_box(x.wrapping_add(1));
    }
    probe.inner().detach("on_clock").map_err(|e| chain(&e))?;
    let me = std::process::id();
    let mine: u64 = probe
        .samples()
        .map_err(|e| format!("samples map: {}", chain(&e)))?
        .iter()
        .filter_map(Result::ok)
        .filter(|(k, _)| k.tgid == me)
        .map(|(_, n)| n)
        .sum();
    let period = probe
        .period()
        .map_err(|e| format!("period map: {}", chain(&e)))?
        .get(&0, 0)
        .unwrap_or(0);
    ensure(mine > 0 && period > 0, || {
        format!("{mine} samples of this process, sample_period {period}")
    })
}

/// `profile --pid` of a spinning child shows its `ljbpf_spin` frame (as
/// `examples/tests/profile.rs`).
fn profile_spin(env: &Env) -> Outcome {
    let mut child = Command::new(env.bin("spin"))
        .arg("20")
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("spawn spin: {e}"))?;
    let pid = child.id().to_string();
    let tool = Running::start(
        &env.bin("profile"),
        &["--duration", DURATION, "--pid", &pid, "--folded"],
    );
    let report = tool.finish();
    let _ = child.kill();
    let _ = child.wait();
    let in_spin: u64 = report
        .lines()
        .filter(|l| l.contains("ljbpf_spin"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<u64>().ok())
        .sum();
    ensure(in_spin > 0, || {
        format!("no samples in ljbpf_spin:\n{report}")
    })
}

/// `seed_kcount.lua` attached where it says (`sys_write`, a symbol of old kernels).
fn seed_kcount_own_target() -> Outcome {
    let mut probe = seed_kcount::Probe::load().map_err(|e| format!("load: {}", chain(&e)))?;
    probe
        .attach_all()
        .map_err(|e| format!("attach: {}", chain(&e)))
}

/// `seed_kcount.lua`'s program attached to `ksys_write` (what write(2) calls on current
/// kernels) counts exactly the writes to a file descriptor number no other process uses here.
fn seed_kcount_ksys_write() -> Outcome {
    const K: u64 = 40;
    const FD: i32 = 987;
    let mut probe = seed_kcount::Probe::load().map_err(|e| format!("load: {}", chain(&e)))?;
    let program: &mut ljbpf_runtime::aya::programs::KProbe = probe
        .inner()
        .ebpf_mut()
        .program_mut("probe")
        .ok_or("no program `probe`")?
        .try_into()
        .map_err(|e| format!("not a kprobe: {e}"))?;
    program
        .attach("ksys_write", 0)
        .map_err(|e| format!("attach to ksys_write: {}", chain(&e)))?;
    let null = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .unwrap();
    // SAFETY: dup2 onto a number this process does not use; the new fd is owned below.
    let fd = unsafe { libc::dup2(null.as_raw_fd(), FD) };
    ensure(fd == FD, || {
        format!("dup2: {}", std::io::Error::last_os_error())
    })?;
    // SAFETY: FD is open (dup2 succeeded) and nothing else owns it.
    let mut file = unsafe { std::fs::File::from_raw_fd(FD) };
    for _ in 0..K {
        file.write_all(b"x").unwrap();
    }
    let map = probe.map().map_err(|e| format!("map: {}", chain(&e)))?;
    let count = map.get(&(FD as u32), 0).unwrap_or(0);
    ensure(count == K, || {
        format!("{count} writes to fd {FD} counted, made {K}")
    })
}

/// `tests/corpus/fork.lua`, compiled against the build host's `sched_process_fork` layout, reads
/// each child's parent pid and comm right on this kernel (the loader moves the field reads, and
/// turns the comm between a `char[16]` array (before Linux 6.10) and a `__data_loc` string).
fn relocate_fork() -> Outcome {
    let mut probe = fork::Probe::load().map_err(|e| format!("load: {}", chain(&e)))?;
    probe
        .attach_all()
        .map_err(|e| format!("attach: {}", chain(&e)))?;
    let mut children = Vec::new();
    for _ in 0..3 {
        let mut child = std::process::Command::new("/proc/self/exe")
            .arg("--version")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| format!("spawn: {e}"))?;
        children.push(child.id() as i32);
        let _ = child.wait();
    }
    let me = std::process::id() as i32;
    // At fork the child's comm is the forking thread's.
    let comm = std::fs::read_to_string("/proc/thread-self/comm").unwrap_or_default();
    let comm = comm.trim_end();
    let forks = probe.forks().map_err(|e| format!("map: {}", chain(&e)))?;
    for child in children {
        let f = forks
            .get(&child, 0)
            .map_err(|e| format!("child {child} not seen: {e}"))?;
        let parent = f.parent;
        // The fork is traced in the forking thread: a thread of this process.
        let status =
            std::fs::read_to_string(format!("/proc/{me}/task/{parent}/status")).unwrap_or_default();
        ensure(status.contains(&format!("Tgid:\t{me}")), || {
            format!("child {child}: recorded parent {parent} is not a thread of {me}")
        })?;
        let end = f.comm.iter().position(|b| *b == 0).unwrap_or(f.comm.len());
        let got = String::from_utf8_lossy(&f.comm[..end]);
        ensure(got == comm, || {
            format!("child {child}: recorded comm {got:?}, the forking thread's is {comm:?}")
        })?;
    }
    Ok(())
}
