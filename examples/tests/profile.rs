//! End-to-end test of the `profile` example: the real binary, perf events on every CPU.

use std::process::{Command, Stdio};

use ljbpf_examples::testing::{kernel_available, Running};

const PROFILE: &str = env!("CARGO_BIN_EXE_profile");
const SPIN: &str = env!("CARGO_BIN_EXE_spin");

/// A child spins in `ljbpf_spin`: `profile --pid CHILD --folded` counts samples of
/// it whose folded stacks contain that frame (user stack, outermost first, after the comm),
/// and no other process. (The frame may read mangled, `_ZN4spin10ljbpf_spin17h...E`: Rust
/// emits both names at that address.)
#[test]
fn busy_child_frames_appear_in_folded_stacks() {
    if !kernel_available("busy_child_frames_appear_in_folded_stacks") {
        return;
    }
    let mut child = Command::new(SPIN)
        .arg("60")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    let run = Running::start(
        PROFILE,
        &["--duration", "2", "--pid", &pid, "-F", "199", "--folded"],
    );
    let report = run.finish();
    child.kill().unwrap();
    child.wait().unwrap();
    eprintln!("{report}");
    let mut in_spin = 0;
    let mut total = 0;
    for line in report.lines().skip(1) {
        if line == "--- stderr" {
            break;
        }
        let (stack, count) = line.rsplit_once(' ').expect("`stack count`");
        let count: u64 = count.parse().expect("a count");
        let frames: Vec<&str> = stack.split(';').collect();
        assert_eq!(frames[0], "spin", "only the chosen process: {line}");
        total += count;
        if frames.iter().any(|f| f.contains("ljbpf_spin")) {
            in_spin += count;
        }
    }
    assert!(total > 0, "no samples of the spinning child:\n{report}");
    // Nearly all of the child's time is in ljbpf_spin (the rest: exec, the clock in the vDSO).
    assert!(
        in_spin * 2 > total,
        "{in_spin} of {total} samples in ljbpf_spin:\n{report}"
    );
}

/// Without `--pid`, the report has stacks of several processes, this busy child among them,
/// in bcc's multi-line format.
#[test]
fn every_process_is_sampled_without_pid() {
    if !kernel_available("every_process_is_sampled_without_pid") {
        return;
    }
    let mut child = Command::new(SPIN)
        .arg("60")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let run = Running::start(PROFILE, &["--duration", "2", "-F", "199"]);
    let report = run.finish();
    child.kill().unwrap();
    child.wait().unwrap();
    let who = format!("spin ({})", child.id());
    let mine = report
        .lines()
        .filter(|l| l.trim_start().starts_with('-') && l.ends_with(&who))
        .count();
    assert!(mine > 0, "no stack of {who}:\n{report}");
    assert!(report.contains("ljbpf_spin"), "{report}");
}
