//! Shared helpers of the integration tests: kernel gating, compiling probe text, loading a
//! compiled probe into the kernel, and golden files with a bless switch.

pub mod corpus;

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
