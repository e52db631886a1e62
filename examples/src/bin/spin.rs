//! Test helper for `profile`: spins on the CPU for SECS seconds (the first argument, default
//! 3) in a function with an unmangled, known name, `ljbpf_spin`, so a profile of this process
//! must show that frame.

use std::time::{Duration, Instant};

/// Burns CPU until `until`; `#[no_mangle]
#[inline(never)]
pub extern "C" fn ljbpf_spin(seconds: u64) -> u64 {
    let until = Instant::now() + Duration::from_secs(seconds);
    let mut x: u64 = 0;
    let mut i: u64 = 0;
    // No calls in the loop but a clock read every 2^20 rounds: nearly every sample's
    // instruction pointer is in this function, whatever the build profile inlines.
    loop {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(i);
        i = i.wrapping_add(1);
        if i & 0xf_ffff == 0 && Instant::now() >= until {
            return x;
        }
    }
}

fn main() {
    let secs: u64 = match std::env::args().nth(1).map(|a| a.parse()) {
        None => 3,
        Some(Ok(n)) => n,
        Some(Err(e)) => {
            eprintln!("spin: bad number of seconds: {e}");
            std::process::exit(2);
        }
    };
    // Printed, so the loop's result is used.
    println!("{}", ljbpf_spin(secs));
}
