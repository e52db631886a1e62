//! End-to-end test of the `bashreadline` example: the real binary, a real interactive bash.

use std::ffi::CStr;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ljbpf_examples::testing::kernel_available;

const BASHREADLINE: &str = env!("CARGO_BIN_EXE_bashreadline");

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
fn interactive_bash(input: &[u8]) -> (u32, Option<i32>, String) {
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

/// Two commands typed into an interactive bash come out of `bashreadline` as two lines with
/// bash's pid, in order, and nothing else of that bash.
#[test]
fn prints_the_commands_typed_into_bash() {
    if !kernel_available("prints_the_commands_typed_into_bash") {
        return;
    }
    let mut tool = Command::new(BASHREADLINE)
        .args(["--duration", "60"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn bashreadline");
    // Lines of the tool's output as they come; the header once the uretprobe is attached.
    let (tx, lines) = mpsc::channel();
    let stdout = BufReader::new(tool.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in stdout.lines() {
            if tx.send(line.expect("bashreadline output")).is_err() {
                break;
            }
        }
    });
    let header = lines.recv_timeout(Duration::from_secs(30));
    if header.as_deref() != Ok("TIME      PID    COMMAND") {
        let _ = tool.kill();
        let _ = tool.wait();
        let mut stderr = String::new();
        let _ = tool.stderr.take().unwrap().read_to_string(&mut stderr);
        panic!("bashreadline did not start: {header:?}\n{stderr}");
    }

    let commands = ["echo ljbpf-bashreadline-$((6 * 7))", "exit 3"];
    let (pid, code, terminal) = interactive_bash(format!("{}\n", commands.join("\n")).as_bytes());
    assert_eq!(code, Some(3), "bash: {terminal}");
    assert!(terminal.contains("ljbpf-bashreadline-42"), "{terminal}");

    // The tool's lines for that bash: `HH:MM:SS  PID    COMMAND`.
    let mut seen = Vec::new();
    let mut all = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.len() < commands.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = lines.recv_timeout(left) else {
            break;
        };
        all.push(line.clone());
        let Some((time, who, command)) = parse(&line) else {
            panic!("bad line {line:?}");
        };
        if who != pid {
            continue;
        }
        assert!(
            time.len() == 8
                && time.bytes().enumerate().all(|(i, b)| if i % 3 == 2 {
                    b == b':'
                } else {
                    b.is_ascii_digit()
                }),
            "bad time in {line:?}"
        );
        seen.push(command.to_owned());
    }
    // Anything more from that bash would come within a moment.
    while let Ok(line) = lines.recv_timeout(Duration::from_millis(300)) {
        all.push(line);
    }
    // SAFETY: kill has no memory-safety preconditions; the pid is our live child.
    unsafe { libc::kill(tool.id() as libc::pid_t, libc::SIGINT) };
    let status = tool.wait().expect("wait for bashreadline");
    let mut stderr = String::new();
    tool.stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    eprintln!(
        "bash {pid}; bashreadline printed:\n{}\n{stderr}",
        all.join("\n")
    );
    assert_eq!(seen, commands, "{all:#?}\n{stderr}");
    let extra: Vec<&String> = all
        .iter()
        .filter(|l| parse(l).is_some_and(|(_, who, _)| who == pid))
        .skip(commands.len())
        .collect();
    assert!(extra.is_empty(), "more lines from bash {pid}: {extra:?}");
    assert!(!stderr.contains("lost"), "{stderr}");
    // Ctrl-C ends it (the default SIGINT action; the uretprobe goes with the process).
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGINT),
        "{status:?}"
    );
}

/// A line `{time:<9} {pid:<6} {command}` as (time, pid, command).
fn parse(line: &str) -> Option<(&str, u32, &str)> {
    let time = line.get(..8)?;
    let rest = line.get(10..)?;
    let pid = rest.split(' ').next()?;
    let command = rest.get(pid.len().max(6) + 1..)?;
    Some((time, pid.parse().ok()?, command))
}
