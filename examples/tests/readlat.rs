//! End-to-end tests of the `readlat` example: the real binary timing the reads of a helper
//! process that makes known slow and fast reads.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use ljbpf_examples::testing::{assert_no_lua, kernel_available, log2_rows, Running};

const READLAT: &str = env!("CARGO_BIN_EXE_readlat");
const READ_LOOP: &str = env!("CARGO_BIN_EXE_read_loop");

/// `readlat --pid P` counts exactly the reads of P: the slow ones (a pipe whose writer, another
/// process, writes 2 ms after P blocked in read) in millisecond rows, the fast ones (4 KiB of
/// /dev/zero) in the low rows.
#[test]
fn histogram_counts_the_reads_of_one_process() {
    if !kernel_available("histogram_counts_the_reads_of_one_process") {
        return;
    }
    const SLOW: u64 = 20;
    const FAST: u64 = 200;
    const SLEEP_US: u64 = 2000;
    let mut child = Command::new(READ_LOOP)
        .args([SLOW, FAST, SLEEP_US].map(|n| n.to_string()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn read_loop");
    // `ready`: the helper's start-up reads (the dynamic loader's) are over.
    let mut ready = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    assert_eq!(ready, "ready\n");

    let pid = child.id().to_string();
    let tool = Running::start(READLAT, &["--duration", "2", "--pid", &pid]);
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    assert!(child.wait().unwrap().success());
    let report = tool.finish();

    assert!(
        report.contains("     usecs               : count     distribution"),
        "{report}"
    );
    let rows = log2_rows(&report);
    assert_eq!(rows.first().map(|r| (r.0, r.1)), Some((0, 1)), "{report}");
    let total: u64 = rows.iter().map(|r| r.2).sum();
    assert_eq!(total, SLOW + FAST, "{report}");
    assert!(
        report.contains(&format!("total {} reads", SLOW + FAST)),
        "{report}"
    );
    // A slow read waits at least SLEEP_US, so it is in a row from 1024 us up (a busy machine
    // can only add).
    let slow: u64 = rows.iter().filter(|r| r.0 >= 1024).map(|r| r.2).sum();
    assert!(slow >= SLOW, "{report}");
    // Reading 4 KiB of zeros takes a few microseconds; allow a few preempted ones.
    let fast: u64 = rows.iter().filter(|r| r.1 < 64).map(|r| r.2).sum();
    assert!(fast >= FAST * 9 / 10, "{report}");
    // Consecutive rows of doubling ranges, the last one not empty.
    for pair in rows.windows(2) {
        assert_eq!(pair[1].0, pair[0].1 + 1, "{report}");
    }
    assert!(rows.last().unwrap().2 > 0, "{report}");
}

#[test]
fn readlat_binary_contains_no_lua() {
    assert_no_lua(READLAT, "tracepoint/syscalls/sys_exit_read");
}
