//! End-to-end test of the `offcputime` example: the real binary, the real scheduler.

use std::time::{Duration, Instant};

use ljbpf_examples::testing::{kernel_available, Running};

const OFFCPUTIME: &str = env!("CARGO_BIN_EXE_offcputime");

/// One stack of the report: frames (innermost first), comm, thread id, total µs.
#[derive(Debug)]
struct Stack {
    frames: Vec<String>,
    comm: String,
    tid: u32,
    us: u64,
}

/// Parses bcc's multi-line format: frame lines, `    -                comm (tid)`, `        N`,
/// a blank line.
fn parse(report: &str) -> Vec<Stack> {
    let mut stacks = Vec::new();
    let mut frames = Vec::new();
    let mut lines = report.lines().skip(1);
    while let Some(line) = lines.next() {
        if line == "--- stderr" {
            break;
        }
        if line.trim().is_empty() {
            continue;
        }
        let Some(who) = line.strip_prefix("    -") else {
            frames.push(line.trim().to_owned());
            continue;
        };
        let who = who.trim();
        let open = who
            .rfind(" (")
            .unwrap_or_else(|| panic!("bad line {line:?}"));
        let comm = who[..open].to_owned();
        let tid = who[open + 2..who.len() - 1].parse().unwrap();
        let us = lines
            .next()
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or_else(|| panic!("no total after {line:?}:\n{report}"));
        stacks.push(Stack {
            frames: std::mem::take(&mut frames),
            comm,
            tid,
            us,
        });
    }
    assert!(frames.is_empty(), "frames without a total: {frames:?}");
    stacks
}

/// A thread of this process sleeps 10 × 20 ms and then 150 ms: `offcputime --pid` shows it off
/// CPU for at least that long (and no longer than it lived) in nanosleep's kernel stack, and
/// `--min-us 100000` counts only the one 150 ms interval.
#[test]
fn sleeping_thread_is_off_cpu_in_nanosleep() {
    if !kernel_available("sleeping_thread_is_off_cpu_in_nanosleep") {
        return;
    }
    let me = std::process::id().to_string();
    let all = Running::start(OFFCPUTIME, &["--duration", "3", "--pid", &me]);
    let long = Running::start(
        OFFCPUTIME,
        &["--duration", "3", "--pid", &me, "--min-us", "100000"],
    );

    let began = Instant::now();
    let sleeper = std::thread::Builder::new()
        .name("ljbpf-sleeper".into())
        .spawn(|| {
            // SAFETY: gettid has no preconditions.
            let tid = unsafe { libc::gettid() } as u32;
            for _ in 0..10 {
                std::thread::sleep(Duration::from_millis(20));
            }
            std::thread::sleep(Duration::from_millis(150));
            tid
        })
        .unwrap();
    let tid = sleeper.join().unwrap();
    let lived = began.elapsed();

    let report = all.finish();
    eprintln!("{report}");
    let stacks = parse(&report);
    let mine: Vec<&Stack> = stacks.iter().filter(|s| s.tid == tid).collect();
    assert!(!mine.is_empty(), "no stacks of thread {tid}:\n{report}");
    // A new thread names itself once it runs: a switch before that (a page fault on its fresh
    // stack, seen in CI) still carries the spawning thread's comm.
    let spawner = std::fs::read_to_string("/proc/thread-self/comm").unwrap();
    assert!(
        mine.iter()
            .all(|s| s.comm == "ljbpf-sleeper" || s.comm == spawner.trim_end()),
        "{mine:?}"
    );
    let total: u64 = mine.iter().map(|s| s.us).sum();
    // The kernel skips a tracepoint program while another tracing program or a BPF map
    // syscall is active on that CPU, and offcputime warns about it: only then may intervals
    // be missing.
    if report.contains("WARNING: the kernel skipped the probe") {
        eprintln!("the kernel skipped the probe: not checking the total of {total} us");
    } else {
        assert!(
            total >= 350_000,
            "thread {tid} off CPU {total} us < 350 ms:\n{report}"
        );
    }
    assert!(
        u128::from(total) <= lived.as_micros(),
        "thread {tid} off CPU {total} us, longer than it lived ({lived:?}):\n{report}"
    );
    let top = mine.iter().max_by_key(|s| s.us).unwrap();
    assert_eq!(top.comm, "ljbpf-sleeper", "{top:?}");
    for frame in ["schedule", "do_nanosleep"] {
        assert!(
            top.frames.iter().any(|f| f == frame),
            "no {frame} in the top stack {top:?}"
        );
    }
    // Every process but this one is filtered out.
    let others: Vec<&Stack> = stacks
        .iter()
        .filter(|s| !std::path::Path::new(&format!("/proc/{me}/task/{}", s.tid)).exists())
        .filter(|s| s.tid != tid)
        .collect();
    assert!(others.is_empty(), "threads of other processes: {others:?}");

    let report = long.finish();
    if report.contains("WARNING: the kernel skipped the probe") {
        eprintln!("the kernel skipped the --min-us probe: not checking it");
        return;
    }
    let long: Vec<Stack> = parse(&report)
        .into_iter()
        .filter(|s| s.tid == tid)
        .collect();
    assert_eq!(long.len(), 1, "--min-us 100000: {long:?}\n{report}");
    assert!(
        (150_000..200_000).contains(&long[0].us),
        "--min-us 100000 counted {} us, not the one 150 ms sleep:\n{report}",
        long[0].us
    );
}
