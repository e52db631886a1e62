//! Test helper for `syscount`: waits for a line on stdin, then calls getpid(2) N times (the
//! first argument, default 100) and exits. The wait lets a tracer attach first.

use std::io::BufRead;

fn main() {
    let n: u64 = match std::env::args().nth(1).map(|a| a.parse()) {
        None => 100,
        Some(Ok(n)) => n,
        Some(Err(e)) => {
            eprintln!("getpid_loop: bad count: {e}");
            std::process::exit(2);
        }
    };
    let mut line = String::new();
    if let Err(e) = std::io::stdin().lock().read_line(&mut line) {
        eprintln!("getpid_loop: cannot read stdin: {e}");
        std::process::exit(2);
    }
    for _ in 0..n {
        // The raw syscall: a libc may cache getpid and skip the kernel.
        // SAFETY: getpid takes no arguments and cannot fail.
        unsafe { libc::syscall(libc::SYS_getpid) };
    }
}
