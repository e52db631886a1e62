//! Test helper for `readlat`: `read_loop SLOW FAST SLEEP_US` prints `ready`, waits until its
//! stdin is readable (without reading it, so the wait is no read(2)), then makes exactly SLOW
//! slow reads of one byte from a pipe and FAST reads of 4 KiB from /dev/zero, and exits. No
//! other read(2) happens in this process after `ready`.
//!
//! A slow read takes at least SLEEP_US: the pipe's writer is another process
//! (`read_loop --writer PID FD COUNT SLEEP_US`, so its own reads are not this process's) that
//! waits until `/proc/PID/syscall` shows PID blocked in read(2) on the pipe, then sleeps
//! SLEEP_US and writes one byte.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--writer") {
        let [pid, fd, count, sleep_us] = numbers(&args[1..]);
        writer(pid, fd, count, sleep_us);
    } else {
        let [slow, fast, sleep_us] = numbers(&args);
        reader(slow, fast, sleep_us);
    }
}

fn reader(slow: u64, fast: u64, sleep_us: u64) {
    // Everything that reads (spawning reads an error pipe) happens before `ready`.
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two fds pipe(2) writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        fail("pipe2 failed");
    }
    // SAFETY: pipe2 just created both fds and nothing else owns them.
    let (mut pipe, write_end) =
        unsafe { (File::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let me = std::env::current_exe().unwrap_or_else(|e| fail(&format!("current_exe: {e}")));
    let mut writer = Command::new(me)
        .arg("--writer")
        .args([u64::from(std::process::id()), fds[0] as u64, slow, sleep_us].map(|n| n.to_string()))
        .stdout(Stdio::from(write_end))
        .spawn()
        .unwrap_or_else(|e| fail(&format!("spawn the writer: {e}")));
    let mut zero = File::open("/dev/zero").unwrap_or_else(|e| fail(&format!("/dev/zero: {e}")));
    let mut buf = vec![0u8; 4096];

    println!("ready");
    std::io::stdout()
        .flush()
        .unwrap_or_else(|e| fail(&format!("stdout: {e}")));
    let mut pollfd = libc::pollfd {
        fd: std::io::stdin().as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd; -1 waits without a timeout.
    while unsafe { libc::poll(&mut pollfd, 1, -1) } != 1 {}

    for _ in 0..slow {
        let n = pipe
            .read(&mut buf[..1])
            .unwrap_or_else(|e| fail(&format!("pipe read: {e}")));
        if n != 1 {
            fail("the writer ended early");
        }
    }
    for _ in 0..fast {
        zero.read_exact(&mut buf)
            .unwrap_or_else(|e| fail(&format!("/dev/zero: {e}")));
    }
    // waitpid(2), not a read.
    let status = writer
        .wait()
        .unwrap_or_else(|e| fail(&format!("wait: {e}")));
    if !status.success() {
        fail(&format!("the writer failed: {status}"));
    }
}

fn writer(pid: u64, fd: u64, count: u64, sleep_us: u64) {
    // /proc/PID/syscall while blocked in read(fd, ...): "<nr> 0x<fd> 0x<buf> ...".
    let blocked = format!("{} {fd:#x} ", libc::SYS_read);
    let path = format!("/proc/{pid}/syscall");
    let mut stdout = std::io::stdout().lock();
    for _ in 0..count {
        while !std::fs::read_to_string(&path)
            .unwrap_or_else(|e| fail(&format!("{path}: {e}")))
            .starts_with(&blocked)
        {
            std::thread::sleep(Duration::from_micros(50));
        }
        std::thread::sleep(Duration::from_micros(sleep_us));
        stdout
            .write_all(b"x")
            .and_then(|()| stdout.flush())
            .unwrap_or_else(|e| fail(&format!("pipe write: {e}")));
    }
}

fn numbers<const N: usize>(args: &[String]) -> [u64; N] {
    let numbers: Vec<u64> = args
        .iter()
        .map(|a| {
            a.parse()
                .unwrap_or_else(|e| fail(&format!("bad number {a:?}: {e}")))
        })
        .collect();
    numbers.try_into().unwrap_or_else(|_| {
        fail("usage: read_loop SLOW FAST SLEEP_US | read_loop --writer PID FD COUNT SLEEP_US")
    })
}

fn fail(message: &str) -> ! {
    eprintln!("read_loop: {message}");
    std::process::exit(2);
}
