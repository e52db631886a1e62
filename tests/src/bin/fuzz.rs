//! Robustness fuzzer: random and mutated probe files through the compiler and, when they
//! compile, the kernel verifier.
//!
//! ```text
//! fuzz [--files N] [--seed S] [--jobs J] [--out DIR]
//! ```
//!
//! The compiler must return a program or diagnostics, never panic, crash its evaluator
//! process, take longer than 10 s or report an "internal error"; every program it compiles
//! must pass the verifier (needs root; without root only the compiler is checked). Prints
//! tried / compiled / verified / rejected-by-compiler / rejected-by-verifier / panics /
//! internal errors / crashes / hangs, and writes every offending file to `DIR` (default
//! `fuzz-failures`), named after the kind of defect. Exit status 1 when there is any defect.
//!
//! File `n` of seed `S` is generated from its own random stream (`S` and `n`), so `J` worker
//! threads (default 1) run the same files in any order, and one file can be made again alone.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use ljbpf_tests::gen::{self, FuzzStats, Rng, Verdict};

/// What the workers share: counts and the time spent in each outcome.
#[derive(Default)]
struct Totals {
    stats: FuzzStats,
    compile_secs: f64,
    verify_secs: f64,
}

fn main() -> ExitCode {
    let mut files = 10_000usize;
    let mut seed = 1u64;
    let mut jobs = 1usize;
    let mut out = PathBuf::from("fuzz-failures");
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next();
        let parsed = value.as_deref().map(|v| v.replace('_', "").parse::<u64>());
        match (flag.as_str(), parsed) {
            ("--files", Some(Ok(n))) => files = n as usize,
            ("--seed", Some(Ok(n))) => seed = n,
            ("--jobs", Some(Ok(n))) if n > 0 => jobs = n as usize,
            ("--out", Some(_)) => out = PathBuf::from(value.unwrap_or_default()),
            _ => {
                eprintln!("usage: fuzz [--files N] [--seed S] [--jobs J] [--out DIR]");
                return ExitCode::from(2);
            }
        }
    }
    // SAFETY: geteuid has no preconditions.
    let kernel = unsafe { libc::geteuid() } == 0;
    if !kernel {
        eprintln!("not root: checking the compiler only, not the verifier");
    }
    // Panics are counted and reported; keep their default messages off the terminal.
    std::panic::set_hook(Box::new(|_| {}));
    let corpus = gen::corpus();
    let next = AtomicUsize::new(0);
    let totals = Mutex::new(Totals::default());
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= files {
                    break;
                }
                let mut rng = Rng::new(seed.wrapping_mul(0x1_0000_0001).wrapping_add(n as u64));
                let source = gen::fuzz_source(&mut rng, &corpus);
                let one = Instant::now();
                let verdict = gen::fuzz_one(&format!("fuzz{n}.lua"), &source, kernel);
                let took = one.elapsed().as_secs_f64();
                report(&out, seed, n, &source, &verdict, took);
                let mut t = totals.lock().unwrap_or_else(|e| e.into_inner());
                t.stats.add(&verdict);
                match verdict {
                    Verdict::Verified
                    | Verdict::CompiledUnchecked
                    | Verdict::VerifierRejected(_) => t.verify_secs += took,
                    _ => t.compile_secs += took,
                }
                if (n + 1).is_multiple_of(5000) {
                    println!(
                        "progress: {} in {:.0} s",
                        t.stats,
                        start.elapsed().as_secs_f64()
                    );
                }
            });
        }
    });
    let t = totals.into_inner().unwrap_or_else(|e| e.into_inner());
    let secs = start.elapsed().as_secs_f64();
    println!(
        "fuzz seed {seed}: {} in {secs:.1} s with {jobs} jobs ({:.0} files/s; {:.1} s in files \
         the compiler rejected, {:.1} s in files compiled and verified)",
        t.stats,
        t.stats.tried as f64 / secs,
        t.compile_secs,
        t.verify_secs
    );
    if t.stats.defects() > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Prints a slow file, and writes an offending one to `out`.
fn report(out: &Path, seed: u64, n: usize, source: &[u8], verdict: &Verdict, took: f64) {
    if took > 1.0 {
        let brief = format!("{verdict:?}");
        let brief: String = brief.chars().take(200).collect();
        println!("slow: file {n} took {took:.1} s ({brief})");
    }
    let why = match verdict {
        Verdict::Panic(m) => Some(("panic", m)),
        Verdict::InternalError(m) => Some(("internal-error", m)),
        Verdict::VerifierRejected(m) => Some(("verifier", m)),
        Verdict::Crash(m) => Some(("crash", m)),
        Verdict::Hang(m) => Some(("hang", m)),
        Verdict::Verified
        | Verdict::Rejected
        | Verdict::CompiledUnchecked
        | Verdict::TimeLimited => None,
    };
    if let Some((kind, message)) = why {
        let _ = std::fs::create_dir_all(out);
        let path = out.join(format!("seed{seed}-file{n}-{kind}.lua"));
        let comment: String = message.lines().map(|l| format!("-- {l}\n")).collect();
        // Bytes as generated: a fuzzed file need not be UTF-8.
        let mut file = comment.into_bytes();
        file.extend_from_slice(source);
        let _ = std::fs::write(&path, file);
        println!(
            "{kind}: {} ({})",
            path.display(),
            message.lines().next().unwrap_or("")
        );
    }
}
