//! The hostile corpus (`tests/hostile/*.lua`): escape and evasion attempts a probe file could
//! make at build time — code execution (jit.util, pointers from ffi, addresses from tostring),
//! file reads (package loaders and paths, io, bytecode files), time-limit evasions (coroutines,
//! pcall loops, backtracking patterns, metamethods and finalizers run by the compiler, replaced
//! globals), memory bombs in Lua and on the Rust side, and build-directive injection.
//!
//! Each must get an answer (an error, or an artifact where the attempt is harmless) within
//! 10 s wall, with the evaluator's memory under its limit, without a panic or an internal
//! error, reading or writing no file (a canary file stays unchanged and nothing is created
//! beside it) and running no command (every command the files try would create a file there).
//! The answers are goldens (`tests/hostile/*.expected`, `LJBPF_BLESS=1`).

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ljbpf_tests::{compile_str, golden, root};

/// Where the files aim their writes and reads.
const CANARY_DIR: &str = "/tmp/ljbpf-hostile";
const CANARY: &str = "/tmp/ljbpf-hostile/canary";
const CANARY_TEXT: &str = "the canary: hostile probe files must not read or change this\n";

const WALL_LIMIT: Duration = Duration::from_secs(10);

/// The evaluator's memory (the Lua limit plus the compiler's reading, over what the test
/// process had when it forked): what a child may reach at most, in bytes.
const MEMORY_LIMIT: u64 = 3 << 30;

fn hostile_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("hostile"))
        .expect("tests/hostile exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "lua"))
        .collect();
    files.sort();
    files
}

fn listing(dir: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Whether a message is one of the evaluator's limits.
fn is_limit(message: &str) -> bool {
    message.contains("ran for more than")
        || message.contains("MiB of memory")
        || message.contains("of processor time")
        || message.contains("ran out of memory")
}

/// Compiles one file; returns its answer as golden text and the problems found.
fn check(path: &PathBuf) -> Vec<String> {
    let file = path.file_name().unwrap().to_string_lossy().to_string();
    let name = format!("hostile/{file}");
    let source = std::fs::read(path).unwrap();
    let start = Instant::now();
    let result = std::panic::catch_unwind(|| compile_str(&name, &source));
    let took = start.elapsed();
    let mut problems = Vec::new();
    let answer = match result {
        Err(_) => return vec![format!("{name}: the compiler panicked")],
        Ok(Ok(_)) => "compiled\n".to_string(),
        Ok(Err(d)) => {
            for x in &d.0 {
                if x.message.contains("internal error") {
                    problems.push(format!("{name}: internal error: {x}"));
                }
            }
            // A memory bomb meets the memory limit or, on a busy machine, the time limit
            // first: either stops it, so the golden says only that.
            if file.contains("memory") && d.0.iter().all(|x| is_limit(&x.message)) {
                format!("{name}: error: stopped by the time or the memory limit\n")
            } else {
                format!("{d}\n")
            }
        }
    };
    if took > WALL_LIMIT {
        problems.push(format!(
            "{name}: answered after {took:?}, more than {WALL_LIMIT:?}"
        ));
    }
    println!("{name}: {:.2} s", took.as_secs_f64());
    let stem = file.trim_end_matches(".lua");
    if let Err(e) = golden(&format!("hostile/{stem}.expected"), &answer) {
        problems.push(e);
    }
    problems
}

#[test]
fn hostile_probe_files_are_contained() {
    std::fs::create_dir_all(CANARY_DIR).expect("canary dir");
    for stale in listing(CANARY_DIR) {
        let _ = std::fs::remove_file(format!("{CANARY_DIR}/{stale}"));
    }
    std::fs::write(CANARY, CANARY_TEXT).expect("canary");
    let before = std::fs::metadata(CANARY).expect("canary").modified().ok();
    let files = hostile_files();
    assert!(
        files.len() >= 40,
        "tests/hostile has {} files, want at least 40",
        files.len()
    );
    // Three at a time: the files that hit the time limit take seconds each. Compiling from
    // several threads also exercises forking the evaluator from a multi-threaded process.
    let queue = Mutex::new(files.into_iter());
    let problems = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| loop {
                let next = queue.lock().unwrap().next();
                let Some(f) = next else { break };
                let p = check(&f);
                problems.lock().unwrap().extend(p);
            });
        }
    });
    let mut problems = problems.into_inner().unwrap();
    if std::fs::read_to_string(CANARY).ok().as_deref() != Some(CANARY_TEXT)
        || std::fs::metadata(CANARY)
            .ok()
            .and_then(|m| m.modified().ok())
            != before
    {
        problems.push(format!("{CANARY} was changed"));
    }
    if listing(CANARY_DIR) != ["canary"] {
        problems.push(format!(
            "{CANARY_DIR} holds {:?}, only the canary expected",
            listing(CANARY_DIR)
        ));
    }
    // SAFETY: rusage is plain data, written by the call.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    let max_rss = u64::try_from(usage.ru_maxrss).unwrap_or(0) * 1024;
    println!("largest evaluator: {} MiB resident", max_rss >> 20);
    if max_rss > MEMORY_LIMIT {
        problems.push(format!(
            "an evaluator used {} MiB, more than {} MiB",
            max_rss >> 20,
            MEMORY_LIMIT >> 20
        ));
    }
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}
