//! bashreadline: prints the commands typed into bash, like bcc's `bashreadline`.
//!
//! The probe (`probes/bashreadline.lua`) is a uretprobe on `/bin/bash`'s `readline()`: it
//! copies the returned line with the pid into an event and sends it through a perf buffer.
//! This side reads the buffers of every CPU and prints `TIME PID COMMAND` lines as events
//! arrive, until `--duration` seconds have passed or Ctrl-C.

use std::error::Error;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use ljbpf_examples::tool;

ljbpf_macros::include_probe!("bashreadline");

#[derive(Debug, Parser)]
#[command(
    name = "bashreadline",
    about = "Print commands entered in bash (readline() of /bin/bash), like bcc's bashreadline"
)]
struct Args {
    /// Stop after SECS seconds (default: run until Ctrl-C).
    #[arg(short, long, value_name = "SECS")]
    duration: Option<u64>,
}

fn main() -> ExitCode {
    tool::main(
        "bashreadline",
        "it loads a BPF program (the bpf() syscall) and attaches a uretprobe to /bin/bash's \
         readline",
        || run(&Args::parse()),
    )
}

fn run(args: &Args) -> Result<(), Box<dyn Error>> {
    let mut probe = bashreadline::Probe::load()?;
    let mut events = probe.events()?;
    probe.attach_all()?;
    // The header says the uretprobe is in place (tests wait for it). Ctrl-C ends the process:
    // the probe detaches when its fds close.
    println!("{:<9} {:<6} COMMAND", "TIME", "PID");

    let deadline = args
        .duration
        .map(|secs| Instant::now() + Duration::from_secs(secs));
    let mut lost = 0;
    loop {
        let timeout = match deadline {
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(left) => left.min(Duration::from_millis(100)),
                None => break,
            },
            None => Duration::from_millis(100),
        };
        let mut batch = events.poll(Some(timeout))?;
        // A poll drains the CPUs' buffers one after the other; the probe's timestamps restore
        // the order in which the lines were read. (An event read in a later poll was sent
        // after all of these: the CPUs are drained in the same order every time.)
        batch.events.sort_by_key(|e| e.ts);
        for event in batch.events {
            println!(
                "{:<9} {:<6} {}",
                now_hms(),
                event.pid,
                String::from_utf8_lossy(until_nul(&event.str))
            );
        }
        if batch.lost > 0 {
            lost += batch.lost;
            eprintln!("WARNING: lost {} events ({lost} in all)", batch.lost);
        }
    }
    Ok(())
}

/// The bytes of a C string buffer up to its first NUL.
fn until_nul(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    &bytes[..end]
}

/// The local time of day as `HH:MM:SS`.
fn now_hms() -> String {
    // SAFETY: time(NULL) has no preconditions; localtime_r writes only into `tm`, which is a
    // plain C struct for which all-zero bytes are a valid value.
    let tm = unsafe {
        let now = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&now, &mut tm).is_null() {
            return "??:??:??".to_owned();
        }
        tm
    };
    format!("{:02}:{:02}:{:02}", tm.tm_hour, tm.tm_min, tm.tm_sec)
}
