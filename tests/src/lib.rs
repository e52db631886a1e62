//! Shared helpers of the integration tests: kernel gating, compiling probe text, loading a
//! compiled probe into the kernel, and golden files with a bless switch.

pub mod corpus;
pub mod gen;

use std::path::{Path, PathBuf};

use ljbpf_build::{CompiledProbe, Diagnostics, Options};

/// Set to `1` to rewrite golden files instead of comparing them.
pub const BLESS_ENV: &str = "LJBPF_BLESS";

/// The tests crate's directory.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Whether kernel tests can run. Without root they are skipped with a printed reason, unless
/// `LJBPF_REQUIRE_KERNEL=1`, which makes the skip a failure.
pub fn kernel_ready(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if root {
        return true;
    }
    if std::env::var("LJBPF_REQUIRE_KERNEL").as_deref() == Ok("1") {
        panic!("{test}: needs root for the bpf() syscall, and LJBPF_REQUIRE_KERNEL=1");
    }
    eprintln!("skipping {test}: needs root for the bpf() syscall");
    false
}

/// Compiles probe text as the file `name` (as given in diagnostics).
pub fn compile_str(name: &str, source: &str) -> Result<CompiledProbe, Diagnostics> {
    ljbpf_build::compile_source(Path::new(name), source, &Options::default())
}

/// Compiles probe text that must compile; panics with the diagnostics otherwise.
pub fn compile_ok(name: &str, source: &str) -> CompiledProbe {
    match compile_str(name, source) {
        Ok(p) => p,
        Err(d) => panic!("{name} does not compile:\n{d}"),
    }
}

/// Loads every program of a compiled probe into the kernel.
pub fn load(probe: &CompiledProbe) -> ljbpf_runtime::Probe {
    match ljbpf_runtime::Probe::load(ljbpf_cli::spec(probe)) {
        Ok(p) => p,
        Err(e) => panic!(
            "{} does not load: {e}\nlisting:\n{}",
            probe.name, probe.listing
        ),
    }
}

/// Compares `actual` with the golden file at `path` (relative to the tests crate), or writes
/// it when `LJBPF_BLESS=1`. Returns a description of the difference.
pub fn golden(path: &str, actual: &str) -> Result<(), String> {
    let path = root().join(path);
    if std::env::var(BLESS_ENV).as_deref() == Ok("1") {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        }
        std::fs::write(&path, actual).map_err(|e| e.to_string())?;
        return Ok(());
    }
    let expected = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "{}: {e} (run with {BLESS_ENV}=1 to create it)",
            path.display()
        )
    })?;
    if expected == actual {
        return Ok(());
    }
    let first = expected
        .lines()
        .zip(actual.lines())
        .position(|(a, b)| a != b)
        .unwrap_or(expected.lines().count().min(actual.lines().count()));
    Err(format!(
        "{} differs at line {}:\n  expected: {:?}\n  actual:   {:?}\n(run with {BLESS_ENV}=1 to accept)",
        path.display(),
        first + 1,
        expected.lines().nth(first).unwrap_or("<end>"),
        actual.lines().nth(first).unwrap_or("<end>")
    ))
}

/// A socket-filter test-run frame: 14 bytes the kernel strips (`BPF_PROG_TEST_RUN` pulls an
/// Ethernet header off), then the Ethernet header the dissector sees at offset 0 with
/// `ethertype`, then `l3`, padded to 64 bytes of packet.
pub fn frame(ethertype: u16, l3: &[u8]) -> Vec<u8> {
    let mut p = vec![0xee; 14];
    p.extend_from_slice(&[0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2]);
    p.extend_from_slice(&ethertype.to_be_bytes());
    p.extend_from_slice(l3);
    if p.len() < 14 + 64 {
        p.resize(14 + 64, 0);
    }
    p
}

/// An IPv4 frame (header length 5 words, addresses 10.0.0.1 → 10.0.0.2) with `ttl`, `proto`
/// and `payload`.
pub fn ipv4_frame(ttl: u8, proto: u8, payload: &[u8]) -> Vec<u8> {
    let mut ip = vec![
        0x45, 0, 0, 0, 0, 0, 0, 0, ttl, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    let len = (ip.len() + payload.len()) as u16;
    ip[2..4].copy_from_slice(&len.to_be_bytes());
    ip.extend_from_slice(payload);
    frame(0x0800, &ip)
}
