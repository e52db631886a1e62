//! A user's crate outside this workspace, depending on `ljbpf-runtime` and `ljbpf-build` by
//! path: it must build, and its tool must run its probe with the same runtime as ours,
//! including the vendored aya (`vendor/aya/PATCHED.md`: no parse of the kernel's BTF for an
//! object that needs none). A `[patch]` in our workspace would not reach such a crate; the
//! runtime's dependency on the vendored copy (package `ljbpf-aya`) does.
//!
//! The crate also depends on crates.io's `aya = "=0.14.0"`, as a user's own aya code would: the
//! two must not collide (cargo refuses two packages of one name and version from different
//! sources). The scratch crate lives under cargo's per-test temporary directory with a target
//! directory of its own, kept between runs (the first run compiles ljbpf-build and LuaJIT once
//! more). Running the tool needs root; without it the test stops after the build.

mod common;

use std::path::Path;
use std::process::Command;

const PROBE: &str = r#"local ffi = require('ffi')
local counts = bpf.map('hash', 1024, ffi.typeof('uint32_t'), ffi.typeof('uint64_t'))
return {
  counts = counts,
  on_getpid = bpf.tracepoint('syscalls/sys_enter_getpid', function (ctx)
    local tgid = pid_tgid() >> 32
    local n = counts[tgid]
    if n then xadd(n, 1) else counts[tgid] = 1 end
  end),
}
"#;

/// The tool: sizes a map before load, attaches, calls getpid 50 times, prints its own count.
const MAIN: &str = r#"ljbpf_runtime::include_probe!("count");

// crates.io's aya, beside the runtime's: both build, and they are different crates.
#[allow(unused_imports)]
use aya as _;

fn main() -> Result<(), ljbpf_runtime::Error> {
    let mut probe = count::Probe::open().set_counts_max_entries(64).load()?;
    // Before attaching: std::process::id() calls getpid too.
    let pid = std::process::id();
    probe.attach_all()?;
    for _ in 0..50 {
        // SAFETY: getpid has no preconditions.
        unsafe { libc::getpid() };
    }
    let n = probe.counts()?.get(&pid, 0).unwrap_or(0);
    println!("getpid {n}");
    Ok(())
}
"#;

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    if std::fs::read_to_string(path).ok().as_deref() != Some(text) {
        std::fs::write(path, text).unwrap();
    }
}

#[test]
fn a_crate_outside_the_workspace_builds_and_runs_with_the_vendored_aya() {
    let build_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace = build_dir.parent().unwrap();
    // Not under the target directory: that is inside the workspace when CARGO_TARGET_DIR is
    // not set. One directory per workspace, kept between runs (its target is a warm cache).
    let tag: u32 = workspace
        .display()
        .to_string()
        .bytes()
        .fold(2166136261, |h, b| (h ^ u32::from(b)).wrapping_mul(16777619));
    let dir = std::env::temp_dir().join(format!("ljbpf-outside-crate-{tag:08x}"));
    let krate = dir.join("crate");
    assert!(
        !krate.starts_with(workspace),
        "the scratch crate must be outside the workspace"
    );
    let runtime = workspace.join("ljbpf-runtime").display().to_string();
    let build = build_dir.display().to_string();
    write(
        &krate.join("Cargo.toml"),
        &format!(
            "[package]\nname = \"outside-tool\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
             [workspace]\n\n[dependencies]\nljbpf-runtime = {{ path = {runtime:?} }}\n\
             aya = \"=0.14.0\"\nlibc = \"0.2\"\n\n\
             [build-dependencies]\nljbpf-build = {{ path = {build:?} }}\n"
        ),
    );
    write(
        &krate.join("build.rs"),
        "fn main() {\n    ljbpf_build::compile_probes(&[\"probes/count.lua\"]);\n}\n",
    );
    write(&krate.join("src/main.rs"), MAIN);
    write(&krate.join("probes/count.lua"), PROBE);
    // The workspace's lock file: the same dependency versions, from cargo's cache (crates.io's
    // aya, which the workspace does not use, is downloaded on a machine that never had it).
    let lock = std::fs::read_to_string(workspace.join("Cargo.lock")).unwrap();
    if !krate.join("Cargo.lock").exists() {
        write(&krate.join("Cargo.lock"), &lock);
    }

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(&cargo)
        .args(["build", "--quiet"])
        .current_dir(&krate)
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .env_remove("RUSTFLAGS")
        .output()
        .expect("run cargo build");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "cargo build failed:\n{stderr}");

    // The runtime's aya is the vendored copy, whatever else the crate depends on.
    let tree = Command::new(&cargo)
        .args(["tree", "--offline", "-p", "ljbpf-runtime", "--depth", "1"])
        .current_dir(&krate)
        .output()
        .expect("run cargo tree");
    let tree = String::from_utf8_lossy(&tree.stdout);
    let vendored = workspace.join("vendor/aya").display().to_string();
    assert!(
        tree.lines()
            .any(|l| l.contains("ljbpf-aya v0.14.0") && l.contains(&vendored)),
        "ljbpf-runtime must use the vendored aya:\n{tree}"
    );

    if !common::is_root() {
        common::skip("running the outside crate's tool needs root");
        return;
    }
    let tool = dir.join("target/debug/outside-tool");
    // Under strace: the vendored aya never opens the kernel's BTF for this object.
    let trace = dir.join("openat.trace");
    let run = Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=openat", "-o"])
        .arg(&trace)
        .arg(&tool)
        .output();
    let run = match run {
        Ok(run) => run,
        Err(e) => {
            eprintln!("strace not available ({e}): running without it");
            Command::new(&tool).output().expect("run the tool")
        }
    };
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "the tool failed:\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(
        stdout.trim(),
        "getpid 50",
        "the probe counts the tool's getpid calls"
    );
    if let Ok(opens) = std::fs::read_to_string(&trace) {
        assert!(
            opens.contains("openat("),
            "strace recorded no openat at all"
        );
        assert!(
            !opens.contains("/sys/kernel/btf/vmlinux"),
            "the tool parsed the kernel's BTF: it does not run on the vendored aya\n{opens}"
        );
    }
}
