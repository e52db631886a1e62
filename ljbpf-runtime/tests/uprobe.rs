//! Uprobes against the live kernel: a uprobe on a function of this test binary, a uretprobe on
//! `/bin/bash`'s `readline` driven through a pseudo-terminal, and no `uprobe_events` entry left
//! behind when the attaching process panics or is killed.

use std::ffi::CStr;
use std::fs::File;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ljbpf_runtime::aya::maps::Array;
use ljbpf_runtime::aya::Pod;
use ljbpf_runtime::{Error, PerfReader, Probe, ProbeSpec, ProgramKind};

mod common;
use common::*;

const BPF_F_CURRENT_CPU: u64 = 0xffff_ffff;

/// `struct pt_regs` offsets on x86_64 (arch/x86/include/uapi/asm/ptrace.h).
const PT_REGS_AX: i16 = 80;
const PT_REGS_DI: i16 = 112;

const UPROBE_EVENTS: &str = "/sys/kernel/tracing/uprobe_events";
/// Set in the child process of the cleanup tests.
const CHILD_ENV: &str = "LJBPF_UPROBE_CHILD";

/// The probed function: returns its argument doubled.
#[inline(never)]
#[no_mangle]
extern "C" fn ljbpf_uprobe_target(x: u64) -> u64 {
    std::hint::black_box(x) * 2
}

/// The function the child processes probe.
#[inline(never)]
#[no_mangle]
extern "C" fn ljbpf_uprobe_child_target(x: u64) -> u64 {
    std::hint::black_box(x) + 1
}

/// A uprobe on `symbol` of this binary that counts calls in `stats[0]` and sums the first
/// argument (`di`) in `stats[1]`.
fn counting_uprobe(symbol: &'static str) -> &'static ProbeSpec {
    let mut asm = Asm::default();
    asm.mov(6, 1)
        .st_w(10, -4, 0)
        .ld_map(1, 0)
        .mov(2, 10)
        .add_imm(2, -4)
        .call(Helper::MapLookupElem)
        .jeq_imm(0, 0, "out")
        .mov_imm(1, 1)
        .atomic_add_dw(0, 0, 1)
        .st_w(10, -4, 1)
        .ld_map(1, 0)
        .mov(2, 10)
        .add_imm(2, -4)
        .call(Helper::MapLookupElem)
        .jeq_imm(0, 0, "out")
        .ldx_dw(1, 6, PT_REGS_DI)
        .atomic_add_dw(0, 0, 1)
        .label("out")
        .mov_imm(0, 0)
        .exit();
    spec(
        "uprobe",
        vec![map("stats", MapKind::Array, 4, 8, 2)],
        vec![Prog {
            name: "on_target",
            section: Box::leak(format!("uprobe/{symbol}").into_boxed_str()),
            kind: ProgramKind::Uprobe {
                path: "/proc/self/exe".into(),
                symbol: symbol.into(),
                ret: false,
            },
            asm,
            lines: &[],
        }],
    )
}

fn stats(probe: &Probe) -> (u64, u64) {
    let stats = Array::<_, u64>::try_from(probe.map("stats").expect("map")).expect("type");
    (
        stats.get(&0, 0).expect("count"),
        stats.get(&1, 0).expect("sum"),
    )
}

fn uprobe_events() -> String {
    std::fs::read_to_string(UPROBE_EVENTS).unwrap_or_default()
}

#[test]
fn uprobe_counts_calls_of_own_function() {
    if !kernel("uprobe_counts_calls_of_own_function") {
        return;
    }
    const N: u64 = 1000;
    let events_before = uprobe_events();
    let mut probe = Probe::load(counting_uprobe("ljbpf_uprobe_target")).expect("load");
    probe.attach_all().expect("attach");
    let mut total = 0;
    for x in 1..=N {
        total += ljbpf_uprobe_target(x);
    }
    assert_eq!(total, N * (N + 1));
    assert_eq!(stats(&probe), (N, N * (N + 1) / 2));
    assert_eq!(
        uprobe_events(),
        events_before,
        "perf-PMU uprobes add no event"
    );

    probe.detach("on_target").expect("detach");
    ljbpf_uprobe_target(1);
    assert_eq!(stats(&probe).0, N, "detached uprobe still fires");
}

#[test]
fn uprobe_kind_must_match_section() {
    if !kernel("uprobe_kind_must_match_section") {
        return;
    }
    let spec = counting_uprobe("ljbpf_uprobe_target");
    let mut programs = spec.programs.to_vec();
    programs[0].kind = ProgramKind::Uprobe {
        path: "/proc/self/exe".into(),
        symbol: "ljbpf_uprobe_target".into(),
        ret: true,
    };
    let wrong: &'static ProbeSpec = Box::leak(Box::new(ProbeSpec {
        programs: leak(programs),
        ..*spec
    }));
    let err = Probe::load(wrong).expect_err("section says uprobe, spec says uretprobe");
    assert!(
        matches!(
            err,
            Error::WrongKind {
                kind: "uprobe",
                expected: "uretprobe",
                ..
            }
        ),
        "{err:?}"
    );

    let mut programs = spec.programs.to_vec();
    programs[0].kind = ProgramKind::Uprobe {
        path: "/proc/self/exe".into(),
        symbol: "no_such_symbol_here".into(),
        ret: false,
    };
    let missing: &'static ProbeSpec = Box::leak(Box::new(ProbeSpec {
        programs: leak(programs),
        ..*spec
    }));
    let mut probe = Probe::load(missing).expect("load");
    let err = probe.attach_all().expect_err("unknown symbol");
    assert!(matches!(err, Error::Attach { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("uprobe /proc/self/exe:no_such_symbol_here"),
        "{err}"
    );
}

/// The child side of the cleanup tests (does nothing unless [`CHILD_ENV`] is set): attach,
/// prove the uprobe fires, print the program id, wait for a line on stdin, then panic.
#[test]
fn uprobe_child() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let mut probe = Probe::load(counting_uprobe("ljbpf_uprobe_child_target")).expect("load");
    probe.attach_all().expect("attach");
    ljbpf_uprobe_child_target(41);
    // Uprobes fire in every process: a sibling child may have called the function too.
    let (count, sum) = stats(&probe);
    assert!(count >= 1 && sum == 41 * count, "{count} {sum}");
    let id = probe
        .ebpf()
        .program("on_target")
        .expect("program")
        .info()
        .expect("info")
        .id();
    println!("ATTACHED {id}");
    std::io::stdout().flush().expect("flush");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).expect("stdin");
    panic!("child panics with the uprobe attached");
}

fn program_loaded(id: u32) -> bool {
    ljbpf_runtime::aya::programs::loaded_programs()
        .filter_map(Result::ok)
        .any(|info| info.id() == id)
}

/// Spawns this binary running only [`uprobe_child`]; returns it with the id of its program
/// once it has attached.
#[allow(clippy::zombie_processes)] // the child is returned; its callers wait for it
fn spawn_child() -> (Child, u32) {
    let mut child = Command::new(std::env::current_exe().expect("exe"))
        .args(["--exact", "uprobe_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn child");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    loop {
        line.clear();
        if stdout.read_line(&mut line).expect("read") == 0 {
            let output = child.wait_with_output().expect("wait");
            panic!(
                "child exited before attaching: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        // The harness prints `test uprobe_child ... ` on the same line first.
        if let Some((_, id)) = line.trim().split_once("ATTACHED ") {
            return (child, id.parse().expect("program id"));
        }
    }
}

/// Waits for program `id` to be released (RCU-deferred after its last reference goes).
fn assert_released(id: u32) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while program_loaded(id) {
        assert!(Instant::now() < deadline, "program {id} still loaded");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A process that panics with a uprobe attached leaves nothing in `uprobe_events` (nor
/// while attached), and its program is released.
#[test]
fn uprobe_cleanup_after_child_panics() {
    if !kernel("uprobe_cleanup_after_child_panics") {
        return;
    }
    let before = uprobe_events();
    let (mut child, id) = spawn_child();
    let child_pid = child.id();
    assert!(program_loaded(id));
    assert_eq!(
        uprobe_events(),
        before,
        "attached uprobe shows in uprobe_events"
    );
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"go\n")
        .expect("write");
    let output = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("child panics with the uprobe attached"),
        "{stderr}"
    );
    assert_eq!(uprobe_events(), before);
    assert!(
        !uprobe_events().contains(&format!("aya_{child_pid}_")),
        "entry of the child left behind"
    );
    assert_released(id);
}

/// Same for a process killed with SIGKILL: no destructor runs, the kernel still cleans up.
#[test]
fn uprobe_cleanup_after_child_is_killed() {
    if !kernel("uprobe_cleanup_after_child_is_killed") {
        return;
    }
    let before = uprobe_events();
    let (mut child, id) = spawn_child();
    child.kill().expect("kill");
    child.wait().expect("wait");
    assert_eq!(uprobe_events(), before);
    assert_released(id);
}

/// What the readline uretprobe sends: the line bash's `readline()` returned.
#[derive(Debug, Clone, Copy)]
#[repr(C)]
struct ReadlineEvent {
    pid_tgid: u64,
    line: [u8; 64],
}
// SAFETY: integers and bytes, no padding.
unsafe impl Pod for ReadlineEvent {}

impl ReadlineEvent {
    fn line(&self) -> &str {
        CStr::from_bytes_until_nul(&self.line)
            .ok()
            .and_then(|s| s.to_str().ok())
            .unwrap_or("")
    }
}

fn readline_spec() -> &'static ProbeSpec {
    let mut asm = Asm::default();
    asm.mov(6, 1)
        .call(Helper::GetCurrentPidTgid)
        .stx_dw(10, -72, 0);
    for off in (-64..0).step_by(8) {
        asm.st_dw(10, off, 0);
    }
    asm.mov(1, 10)
        .add_imm(1, -64)
        .mov_imm(2, 64)
        .ldx_dw(3, 6, PT_REGS_AX)
        .call(Helper::ProbeReadUserStr)
        .mov(1, 6)
        .ld_map(2, 0)
        .ld_imm64(3, BPF_F_CURRENT_CPU)
        .mov(4, 10)
        .add_imm(4, -72)
        .mov_imm(5, 72)
        .call(Helper::PerfEventOutput)
        .mov_imm(0, 0)
        .exit();
    spec(
        "bashreadline",
        vec![map("lines", MapKind::PerfEventArray, 4, 4, 0)],
        vec![Prog {
            name: "on_readline_return",
            section: "uretprobe/readline",
            kind: ProgramKind::Uprobe {
                path: "/bin/bash".into(),
                symbol: "readline".into(),
                ret: true,
            },
            asm,
            lines: &[],
        }],
    )
}

/// A pseudo-terminal pair: (master, slave).
fn open_pty() -> (OwnedFd, File) {
    // SAFETY: plain libc calls on the fd they return; results are checked.
    unsafe {
        let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        assert!(
            master >= 0,
            "posix_openpt: {}",
            std::io::Error::last_os_error()
        );
        let master = OwnedFd::from_raw_fd(master);
        assert_eq!(libc::grantpt(master.as_raw_fd()), 0);
        assert_eq!(libc::unlockpt(master.as_raw_fd()), 0);
        let mut name = [0 as libc::c_char; 128];
        assert_eq!(
            libc::ptsname_r(master.as_raw_fd(), name.as_mut_ptr(), name.len()),
            0
        );
        let path = CStr::from_ptr(name.as_ptr()).to_str().expect("pty name");
        let slave = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .expect("open pty slave");
        (master, slave)
    }
}

/// An interactive bash on a pseudo-terminal reads two commands with readline; the uretprobe
/// sends each returned line through a perf buffer.
#[test]
fn uretprobe_on_bash_readline() {
    if !kernel("uretprobe_on_bash_readline") {
        return;
    }
    let mut probe = Probe::load(readline_spec()).expect("load");
    let mut lines = PerfReader::<ReadlineEvent>::new(&mut probe, "lines").expect("reader");
    probe.attach_all().expect("attach");

    let (master, slave) = open_pty();
    let mut bash = Command::new("/bin/bash");
    bash.args(["--norc", "--noprofile", "-i"])
        .env_clear()
        .env("TERM", "dumb")
        .env("INPUTRC", "/dev/null")
        .env("PS1", "$ ")
        .stdin(slave.try_clone().expect("dup"))
        .stdout(slave.try_clone().expect("dup"))
        .stderr(slave);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        bash.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = bash.spawn().expect("spawn bash");
    drop(bash); // closes our copies of the slave

    let mut master = File::from(master);
    master
        .write_all(b"echo ljbpf-$((6 * 7))\nexit 3\n")
        .expect("write to bash");
    // Collect the terminal output until bash exits (reading the master then fails with EIO).
    let mut reader = master.try_clone().expect("dup");
    let output = std::thread::spawn(move || {
        let mut out = Vec::new();
        let mut buf = [0; 4096];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&out).into_owned()
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("bash did not exit: {}", output.join().unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(master);
    let output = output.join().expect("output");
    assert_eq!(status.code(), Some(3), "{output}");
    assert!(output.contains("ljbpf-42"), "{output}");

    let pid = child.id();
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while seen.len() < 2 && Instant::now() < deadline {
        for event in lines
            .poll(Some(Duration::from_millis(100)))
            .expect("poll")
            .events
        {
            if event.pid_tgid >> 32 == u64::from(pid) {
                seen.push(event.line().to_string());
            }
        }
    }
    eprintln!("readline returned {seen:?} in bash {pid}");
    assert_eq!(seen, ["echo ljbpf-$((6 * 7))", "exit 3"]);
    assert_eq!(lines.lost(), 0);
}
