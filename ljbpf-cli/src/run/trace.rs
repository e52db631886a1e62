//! `print()` lines: programs call `bpf_trace_printk`, whose text the kernel records as the
//! `bpf_trace/bpf_trace_printk` trace event (kernel/trace/bpf_trace.c). Reading the global
//! `trace_pipe` would take those lines away from anyone else reading it, so `ljbpf run` makes a
//! tracefs instance of its own (`instances/ljbpf-run-PID`), enables only that event there, and
//! reads the instance's `trace_pipe`; the instance is removed when the reader is dropped.
//!
//! The event carries every program's `print()`, not only this probe's: lines of other BPF
//! programs printing at the same time show up too.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::PathBuf;

/// A private tracefs instance with `bpf_trace_printk` enabled.
pub struct TracePipe {
    dir: PathBuf,
    pipe: Option<File>,
    /// Bytes read but not yet ended by a newline.
    partial: Vec<u8>,
}

impl TracePipe {
    /// Creates the instance under the mounted tracefs `root` and opens its pipe.
    pub fn open(root: &std::path::Path) -> io::Result<TracePipe> {
        let dir = root
            .join("instances")
            .join(format!("ljbpf-run-{}", std::process::id()));
        // A run killed with SIGKILL leaves its instance behind; one with our pid is stale.
        let _ = fs::remove_dir(&dir);
        fs::create_dir(&dir)?;
        // From here on, Drop removes the directory whatever fails next.
        let mut trace = TracePipe {
            dir,
            pipe: None,
            partial: Vec::new(),
        };
        fs::write(
            trace.dir.join("events/bpf_trace/bpf_trace_printk/enable"),
            "1",
        )?;
        trace.pipe = Some(
            OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(trace.dir.join("trace_pipe"))?,
        );
        Ok(trace)
    }

    /// The lines printed since the last call, without blocking: `task-pid: text` each.
    pub fn read_lines(&mut self) -> io::Result<Vec<String>> {
        let Some(pipe) = self.pipe.as_mut() else {
            return Ok(Vec::new());
        };
        let mut buf = [0u8; 8192];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => self.partial.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        let mut lines = Vec::new();
        while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            lines.extend(parse(&String::from_utf8_lossy(&line[..end])));
        }
        Ok(lines)
    }
}

impl Drop for TracePipe {
    fn drop(&mut self) {
        // The instance cannot be removed while its pipe is open.
        self.pipe = None;
        let _ = fs::remove_dir(&self.dir);
    }
}

/// One `trace_pipe` line, `           bash-1234    [001] d..31  5.123456: bpf_trace_printk: text`,
/// as `bash-1234: text`; `None` for lines of other events.
pub fn parse(line: &str) -> Option<String> {
    let (head, text) = line.split_once(": bpf_trace_printk: ")?;
    let task = head.trim_start().split(" [").next()?.trim_end();
    Some(format!("{task}: {text}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_keep_task_and_text() {
        assert_eq!(
            parse("           bash-1234    [001] d..31  5.123456: bpf_trace_printk: n=3: ok")
                .as_deref(),
            Some("bash-1234: n=3: ok")
        );
        assert_eq!(parse("  <idle>-0  [000] 1.0: sched_switch: x"), None);
    }
}
