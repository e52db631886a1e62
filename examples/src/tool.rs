//! What every tool's `main` shares: the root check, Ctrl-C, the `--duration` wait, and error
//! reports that print the whole cause chain.

use std::error::Error;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Set by the SIGINT handler; [`wait`] polls it.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    // Only an atomic store: the one kind of thing a signal handler may do.
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Runs `body` as the whole program `tool`: refuses to start unless root (saying `why` it
/// needs root), and prints an error with its chain of causes as `tool: error: ...`.
pub fn main(tool: &str, why: &str, body: impl FnOnce() -> Result<(), Box<dyn Error>>) -> ExitCode {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("{tool}: needs root: {why}; run it as root");
        return ExitCode::from(1);
    }
    match body() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let mut message = format!("{tool}: error: {e}");
            let mut source = e.source();
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            eprintln!("{message}");
            ExitCode::from(1)
        }
    }
}

/// Makes Ctrl-C end [`wait`] instead of the process. Call it before attaching, so that an
/// interrupt between attaching and waiting still prints the report.
pub fn catch_ctrl_c() {
    let handler: extern "C" fn(libc::c_int) = on_sigint;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe { libc::signal(libc::SIGINT, handler as libc::sighandler_t) };
}

/// Waits `duration` seconds, or until Ctrl-C when `None` (Ctrl-C also ends a timed wait).
pub fn wait(duration: Option<u64>) {
    let deadline = duration.map(|secs| Instant::now() + Duration::from_secs(secs));
    while !INTERRUPTED.load(Ordering::SeqCst) && deadline.is_none_or(|d| Instant::now() < d) {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The line a tool prints once its probe is attached (tests wait for it):
/// `Tracing <what> for N s... Hit Ctrl-C to end early.` or `Tracing <what>... Hit Ctrl-C to end.`
pub fn print_tracing(what: &str, duration: Option<u64>) {
    match duration {
        Some(secs) => println!("Tracing {what} for {secs} s... Hit Ctrl-C to end early."),
        None => println!("Tracing {what}... Hit Ctrl-C to end."),
    }
}
