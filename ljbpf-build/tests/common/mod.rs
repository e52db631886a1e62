//! Shared by the ljbpf-build test binaries.

// Each test binary uses its own part of this module.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

/// Whether kernel-facing tests must fail instead of skipping (`.ci/run` sets it).
pub fn require_kernel() -> bool {
    std::env::var("LJBPF_REQUIRE_KERNEL").is_ok_and(|v| v == "1")
}

/// Prints why a test skips; fails instead when `LJBPF_REQUIRE_KERNEL=1`.
pub fn skip(why: &str) {
    assert!(!require_kernel(), "LJBPF_REQUIRE_KERNEL=1 but {why}");
    println!("SKIP: {why}");
}

/// Whether the test runs as root (effective uid 0, from /proc so no libc is needed).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(2))
            == Some("0")
    })
}

/// Mounts tracefs at `dir`'s mount point when `dir` is missing and the test may mount.
pub fn mount_tracefs_if_missing(dir: &Path) {
    if !dir.is_dir() && is_root() {
        let _ = Command::new("mount")
            .args(["-t", "tracefs", "nodev", "/sys/kernel/tracing"])
            .status();
    }
}

/// Deterministic xorshift, so that garbled-input tests are reproducible.
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}
