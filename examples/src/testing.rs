//! Helpers for the tools' end-to-end tests (`tests/*.rs`): run a built tool while the test
//! makes events, and read its report.

use std::ffi::CStr;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// Whether kernel tests can run; panics instead of skipping when `LJBPF_REQUIRE_KERNEL=1`.
pub fn kernel_available(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    let reason = "not root: loading BPF programs and attaching them needs root";
    if std::env::var("LJBPF_REQUIRE_KERNEL").as_deref() == Ok("1") {
        panic!("{test}: {reason} (LJBPF_REQUIRE_KERNEL=1)");
    }
    eprintln!("skipping {test}: {reason}");
    false
}

/// A tool running as a child process, past its `Tracing ...` line (its probe is attached).
pub struct Running {
    child: Child,
    stdout: BufReader<ChildStdout>,
    first: String,
}

impl Running {
    /// Starts `binary` with `args` and waits until it prints its first line, which every tool
    /// prints once its probe is attached; panics with the tool's stderr if that is not
    /// `Tracing ...`.
    pub fn start(binary: &str, args: &[&str]) -> Running {
        let mut child = Command::new(binary)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {binary}: {e}"));
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut first = String::new();
        stdout
            .read_line(&mut first)
            .expect("read the tool's stdout");
        if !first.starts_with("Tracing") {
            let _ = child.wait();
            let mut stderr = String::new();
            let _ = child
                .stderr
                .take()
                .expect("piped stderr")
                .read_to_string(&mut stderr);
            panic!("{binary} did not start tracing:\n{first}{stderr}");
        }
        Running {
            child,
            stdout,
            first,
        }
    }

    /// Waits for the tool to exit (its `--duration` to pass) and returns everything it
    /// printed, its stderr (warnings) after a `--- stderr` line when there is any; panics
    /// with its stderr if it failed.
    pub fn finish(mut self) -> String {
        let mut rest = String::new();
        self.stdout
            .read_to_string(&mut rest)
            .expect("read the tool's stdout");
        let status = self.child.wait().expect("wait for the tool");
        let mut stderr = String::new();
        let _ = self
            .child
            .stderr
            .take()
            .expect("piped stderr")
            .read_to_string(&mut stderr);
        let report = format!("{}{rest}", self.first);
        assert!(
            status.success(),
            "tool failed ({status}): {stderr}\n{report}"
        );
        if stderr.is_empty() {
            report
        } else {
            format!("{report}--- stderr\n{stderr}")
        }
    }
}

/// The words of the first line of `report` whose first word is `first`.
pub fn row<'a>(report: &'a str, first: &str) -> Option<Vec<&'a str>> {
    report.lines().find_map(|line| {
        let words: Vec<&str> = line.split_whitespace().collect();
        (words.first() == Some(&first)).then_some(words)
    })
}

/// The count of a bar row `     NAME         : COUNT    |***   |` (from
/// [`crate::hist::named_bars`]); `None` if there is no row for `name`.
pub fn bar_count(report: &str, name: &str) -> Option<u64> {
    let words = row(report, name)?;
    match words.as_slice() {
        [_, ":", count, ..] => count.parse().ok(),
        _ => None,
    }
}

/// The rows `LOW -> HIGH : COUNT |...|` of a log2 histogram (from [`crate::hist::log2_hist`]).
pub fn log2_rows(report: &str) -> Vec<(u64, u64, u64)> {
    report
        .lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                [low, "->", high, ":", count, ..] => {
                    Some((low.parse().ok()?, high.parse().ok()?, count.parse().ok()?))
                }
                _ => None,
            }
        })
        .collect()
}

/// Asserts that `binary` embeds its probe (`section`, e.g. `tracepoint/syscalls/sys_exit_read`
/// or a Lua line of the object's BTF line info, is in it) and
/// contains nothing of Lua: no C API symbols, no LuaJIT version strings.
pub fn assert_no_lua(binary: &str, section: &str) {
    // Lossy UTF-8 keeps every ASCII byte in place, and std's optimised `str::contains` keeps
    // the scan of a large debug binary fast in an unoptimised test build.
    let bytes = std::fs::read(binary).unwrap_or_else(|e| panic!("{binary}: {e}"));
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains(section), "{binary} does not embed {section}");
    for needle in ["lua_", "luaL_", "luaJIT_", "LuaJIT"] {
        assert!(!text.contains(needle), "{binary} contains {needle:?}");
    }
    if let Ok(out) = Command::new("nm").arg(Path::new(binary)).output() {
        let symbols = String::from_utf8_lossy(&out.stdout);
        let lua: Vec<&str> = symbols
            .lines()
            .filter(|l| l.contains("lua_") || l.contains("luaL_") || l.contains("luaJIT"))
            .collect();
        assert!(lua.is_empty(), "{binary}: {lua:?}");
    }
}

/// A pseudo-terminal pair: (master, slave).
fn open_pty() -> (OwnedFd, File) {
    // SAFETY: plain libc calls on the fd they return; every result is checked.
    unsafe {
        let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        assert!(
            master >= 0,
            "posix_openpt: {}",
            std::io::Error::last_os_error()
        );
        let master = OwnedFd::from_raw_fd(master);
        assert_eq!(libc::grantpt(master.as_raw_fd()), 0, "grantpt");
        assert_eq!(libc::unlockpt(master.as_raw_fd()), 0, "unlockpt");
        let mut name = [0 as libc::c_char; 128];
        assert_eq!(
            libc::ptsname_r(master.as_raw_fd(), name.as_mut_ptr(), name.len()),
            0,
            "ptsname_r"
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

/// Runs an interactive bash (readline on a terminal) that is typed `input`; returns its pid,
/// exit code and what it printed on the terminal.
pub fn interactive_bash(input: &[u8]) -> (u32, Option<i32>, String) {
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
            // A session of its own with the pty as controlling terminal, as a login shell has.
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = bash.spawn().expect("spawn bash");
    drop(bash); // closes our copies of the slave
    let mut master = File::from(master);
    master.write_all(input).expect("type into bash");
    // The terminal output, until bash exits (reading the master then fails with EIO).
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
        if let Some(status) = child.try_wait().expect("wait for bash") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("bash did not exit: {}", output.join().unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(master);
    (
        child.id(),
        status.code(),
        output.join().expect("bash output"),
    )
}
