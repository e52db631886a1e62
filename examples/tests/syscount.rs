//! End-to-end tests of the `syscount` example: the real binary, the real kernel.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const SYSCOUNT: &str = env!("CARGO_BIN_EXE_syscount");
const GETPID_LOOP: &str = env!("CARGO_BIN_EXE_getpid_loop");

/// Whether kernel tests can run; panics instead of skipping when `LJBPF_REQUIRE_KERNEL=1`.
fn kernel_available(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    let reason = "not root: loading BPF programs and attaching tracepoints needs root";
    if std::env::var("LJBPF_REQUIRE_KERNEL").as_deref() == Ok("1") {
        panic!("{test}: {reason} (LJBPF_REQUIRE_KERNEL=1)");
    }
    eprintln!("skipping {test}: {reason}");
    false
}

/// `syscount --duration 2 --pid P` shows exactly N getpid calls for a process P that made N.
#[test]
fn counts_exactly_the_getpid_calls_of_one_process() {
    if !kernel_available("counts_exactly_the_getpid_calls_of_one_process") {
        return;
    }
    const N: u64 = 1234;
    let mut child = Command::new(GETPID_LOOP)
        .arg(N.to_string())
        .stdin(Stdio::piped())
        .spawn()
        .expect("spawn getpid_loop");
    let mut syscount = Command::new(SYSCOUNT)
        .args(["--duration", "2", "--top", "50", "--pid"])
        .arg(child.id().to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn syscount");

    // syscount prints its first line only once the probe is attached.
    let mut stdout = BufReader::new(syscount.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    if !first.starts_with("Tracing") {
        let _ = child.kill();
        let mut stderr = String::new();
        syscount
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        panic!("syscount did not start tracing:\n{first}{stderr}");
    }
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    assert!(child.wait().unwrap().success());

    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let status = syscount.wait().unwrap();
    let mut stderr = String::new();
    syscount
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "syscount failed: {stderr}\n{first}{rest}");

    let report = format!("{first}{rest}");
    assert!(
        report.contains("SYSCALL                   COUNT"),
        "{report}"
    );
    let getpid = row(&report, "getpid").unwrap_or_else(|| panic!("no getpid row:\n{report}"));
    assert_eq!(getpid, N, "{report}");
    // The child exits once, after the probe was attached; other processes are filtered out.
    assert_eq!(row(&report, "exit_group"), Some(1), "{report}");
}

/// The count in the row for syscall `name`.
fn row(report: &str, name: &str) -> Option<u64> {
    report.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        if words.next()? != name {
            return None;
        }
        words.next()?.parse().ok()
    })
}

/// The binary that ships contains no Lua: the runtime and the generated module are Lua-free,
/// and LuaJIT (linked only into build.rs through ljbpf-build) must not leak in.
#[test]
fn syscount_binary_contains_no_lua() {
    // The binary the harness built (debug under `cargo test`, release under `--release`), and
    // the release binary too when it was built (the README's first command builds it).
    let mut binaries = vec![PathBuf::from(SYSCOUNT)];
    let release = release_sibling(Path::new(SYSCOUNT));
    if let Some(release) = release.filter(|r| r.is_file() && !binaries.contains(r)) {
        binaries.push(release);
    }
    for binary in &binaries {
        // Lossy UTF-8 keeps every ASCII byte in place, and std's optimised `str::contains`
        // keeps the scan of a large debug binary fast in an unoptimised test build.
        let bytes = std::fs::read(binary).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        // The probe is in there (so we scan the right file)...
        assert!(
            text.contains("tracepoint/raw_syscalls/sys_enter"),
            "{} does not embed the syscount probe",
            binary.display()
        );
        // ...and nothing of Lua: no C API symbols, no LuaJIT version strings.
        for needle in ["lua_", "luaL_", "luaJIT_", "LuaJIT"] {
            assert!(
                !text.contains(needle),
                "{} contains {needle:?}",
                binary.display()
            );
        }
        if let Ok(out) = Command::new("nm").arg(binary).output() {
            let symbols = String::from_utf8_lossy(&out.stdout);
            let lua: Vec<&str> = symbols
                .lines()
                .filter(|l| l.contains("lua_") || l.contains("luaL_") || l.contains("luaJIT"))
                .collect();
            assert!(lua.is_empty(), "{}: {lua:?}", binary.display());
        }
    }
}

/// `<target>/release/<name>` for a binary at `<target>/<profile>/<name>`.
fn release_sibling(binary: &Path) -> Option<PathBuf> {
    let name = binary.file_name()?;
    let target = binary.parent()?.parent()?;
    Some(target.join("release").join(name))
}
