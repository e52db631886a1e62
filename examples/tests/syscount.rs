//! End-to-end tests of the `syscount` example: the real binary, the real kernel.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ljbpf_examples::testing::{assert_no_lua, kernel_available};

const SYSCOUNT: &str = env!("CARGO_BIN_EXE_syscount");
const GETPID_LOOP: &str = env!("CARGO_BIN_EXE_getpid_loop");

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
        assert_no_lua(
            &binary.to_string_lossy(),
            "tracepoint/raw_syscalls/sys_enter",
        );
    }
}

/// `<target>/release/<name>` for a binary at `<target>/<profile>/<name>`.
fn release_sibling(binary: &Path) -> Option<PathBuf> {
    let name = binary.file_name()?;
    let target = binary.parent()?.parent()?;
    Some(target.join("release").join(name))
}
