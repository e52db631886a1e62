//! A real `cargo build` of a crate whose build script compiles a bad probe: what a user sees.
//!
//! The scratch crate lives under cargo's per-test temporary directory with a target directory of
//! its own, kept between runs (the first run compiles ljbpf-build and LuaJIT once more).

use std::path::Path;
use std::process::Command;

/// Three errors in one program function and one in another; each must be printed exactly once.
const BAD_PROBE: &str = r#"local ffi = require('ffi')
local counts = bpf.map('hash', 1024, ffi.typeof('uint32_t'), ffi.typeof('uint64_t'))
return {
  counts = counts,
  on_enter = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    local n = countz[ctx.id]
    local k = 1.5
    if n then xadd(n, 1) else counts[ctx.id] = 1 end
    local t = tme()
  end),
  other = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    local q = pid_tgd()
  end),
}
"#;

/// What the build must print, each once.
const EXPECTED: &[&str] = &[
    "probes/bad.lua:6: error: unknown global `countz` in a program function",
    "hint: did you mean `counts`?",
    "probes/bad.lua:7: error: the number 1.5 is not an integer",
    "probes/bad.lua:9: error: unknown global `tme` in a program function",
    "hint: did you mean `time`?",
    "probes/bad.lua:12: error: unknown global `pid_tgd` in a program function",
    "hint: did you mean `pid_tgid`?",
];

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    if std::fs::read_to_string(path).ok().as_deref() != Some(text) {
        std::fs::write(path, text).unwrap();
    }
}

#[test]
fn each_error_of_a_bad_probe_is_printed_once_by_cargo_build() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cargo_build_errors");
    let krate = dir.join("crate");
    let build_dep = Path::new(env!("CARGO_MANIFEST_DIR")).display().to_string();
    write(
        &krate.join("Cargo.toml"),
        &format!(
            "[package]\nname = \"bad-probe\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
             [workspace]\n\n[build-dependencies]\nljbpf-build = {{ path = {build_dep:?} }}\n"
        ),
    );
    write(
        &krate.join("build.rs"),
        "fn main() {\n    ljbpf_build::compile_probes(&[\"probes/bad.lua\"]);\n}\n",
    );
    write(&krate.join("src/main.rs"), "fn main() {}\n");
    write(&krate.join("probes/bad.lua"), BAD_PROBE);
    // The workspace's lock file: the same dependency versions, found offline.
    let lock = std::fs::read_to_string(workspace.join("Cargo.lock")).unwrap();
    write(&krate.join("Cargo.lock"), &lock);

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["build", "--offline", "--quiet"])
        .current_dir(&krate)
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .env_remove("RUSTFLAGS")
        .output()
        .expect("run cargo build");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("--- cargo build's stderr ---\n{stderr}\n--- stdout ---\n{stdout}");
    assert!(!out.status.success(), "the build must fail");
    for text in EXPECTED {
        let n = stderr.matches(text).count() + stdout.matches(text).count();
        assert_eq!(n, 1, "`{text}` printed {n} times");
    }
    assert!(
        !stderr.contains("failed to run custom build command"),
        "cargo repeats the script's output under this heading"
    );
}
