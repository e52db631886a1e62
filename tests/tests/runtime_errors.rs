//! What a user sees when a probe is rejected at run time.

use std::process::Command;

use ljbpf_tests::kernel_ready;

/// A `main` returning `Result` that hits a verifier rejection prints its `Debug` form: a few
/// lines (program, Lua line, the verifier's words, a hint, the log's last lines), not the
/// megabytes of verifier log, and no misleading errno.
#[test]
fn a_rejection_through_question_mark_in_main_prints_under_4_kb() {
    if !kernel_ready("a_rejection_through_question_mark_in_main_prints_under_4_kb") {
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_rejected_main"))
        .output()
        .expect("run rejected_main");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(out.stdout.is_empty());
    eprintln!(
        "--- what main printed ({} bytes) ---\n{stderr}",
        out.stderr.len()
    );
    assert!(out.stderr.len() < 4096, "{} bytes", out.stderr.len());
    assert!(
        stderr.starts_with(
            "Error: program spin rejected by the verifier at rejected/toolong.lua:17 (insn "
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: the verifier explored too many paths: a loop it cannot bound"),
        "{stderr}"
    );
    assert!(stderr.contains("-byte verifier log"), "{stderr}");
    assert!(!stderr.contains("No space left"), "{stderr}");
}
