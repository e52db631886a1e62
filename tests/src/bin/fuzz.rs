//! Robustness fuzzer: random and mutated probe files through the compiler and, when they
//! compile, the kernel verifier.
//!
//! ```text
//! fuzz [--files N] [--seed S] [--out DIR]
//! ```
//!
//! The compiler must return a program or diagnostics, never panic and never report an
//! "internal error"; every program it compiles must pass the verifier (needs root; without
//! root only the compiler is checked). Prints tried / compiled / verified /
//! rejected-by-compiler / rejected-by-verifier, and writes every offending file to `DIR`
//! (default `fuzz-failures`), named after the kind of defect. Exit status 1 when there is any
//! defect.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use ljbpf_tests::gen::{self, FuzzStats, Rng, Verdict};

fn main() -> ExitCode {
    let mut files = 10_000usize;
    let mut seed = 1u64;
    let mut out = PathBuf::from("fuzz-failures");
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next();
        let parsed = value.as_deref().map(|v| v.replace('_', "").parse::<u64>());
        match (flag.as_str(), parsed) {
            ("--files", Some(Ok(n))) => files = n as usize,
            ("--seed", Some(Ok(n))) => seed = n,
            ("--out", Some(_)) => out = PathBuf::from(value.unwrap_or_default()),
            _ => {
                eprintln!("usage: fuzz [--files N] [--seed S] [--out DIR]");
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
    let mut rng = Rng::new(seed);
    let mut stats = FuzzStats::default();
    let start = Instant::now();
    let mut compile_secs = 0.0;
    let mut verify_secs = 0.0;
    for n in 0..files {
        let source = gen::fuzz_source(&mut rng, &corpus);
        let one = Instant::now();
        let verdict = gen::fuzz_one(&format!("fuzz{n}.lua"), &source, kernel);
        stats.add(&verdict);
        let took = one.elapsed();
        match verdict {
            Verdict::Rejected | Verdict::InternalError(_) | Verdict::Panic(_) => {
                compile_secs += took.as_secs_f64()
            }
            _ => verify_secs += took.as_secs_f64(),
        }
        if took.as_secs_f64() > 1.0 {
            println!("slow: file {n} took {took:.1?} ({verdict:?})");
        }
        let why = match &verdict {
            Verdict::Panic(m) => Some(("panic", m)),
            Verdict::InternalError(m) => Some(("internal-error", m)),
            Verdict::VerifierRejected(m) => Some(("verifier", m)),
            Verdict::Verified | Verdict::Rejected | Verdict::CompiledUnchecked => None,
        };
        if let Some((kind, message)) = why {
            let _ = std::fs::create_dir_all(&out);
            let path = out.join(format!("seed{seed}-file{n}-{kind}.lua"));
            let comment: String = message.lines().map(|l| format!("-- {l}\n")).collect();
            // Bytes as generated: a fuzzed file need not be UTF-8.
            let mut file = comment.into_bytes();
            file.extend_from_slice(&source);
            let _ = std::fs::write(&path, file);
            println!(
                "{kind}: {} ({})",
                path.display(),
                message.lines().next().unwrap_or("")
            );
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "fuzz seed {seed}: {stats} in {secs:.1} s ({:.0} files/s; {compile_secs:.1} s in files \
         the compiler rejected, {verify_secs:.1} s in files compiled and verified)",
        stats.tried as f64 / secs
    );
    if stats.defects() > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
