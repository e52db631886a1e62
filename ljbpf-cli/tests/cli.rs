//! The `ljbpf` binary on small probe files written to a temporary directory.
//!
//! Tracepoint formats come from a private events directory (`--events-dir`), so `dump` and
//! `compile` work without tracefs; `check` needs root and the kernel.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const LJBPF: &str = env!("CARGO_BIN_EXE_ljbpf");

/// The kernel's raw_syscalls/sys_enter record (Linux 6.x, x86-64), as tracefs prints it.
const SYS_ENTER_FORMAT: &str = "\
name: sys_enter
ID: 443
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:long id;\toffset:8;\tsize:8;\tsigned:1;
\tfield:unsigned long args[6];\toffset:16;\tsize:48;\tsigned:0;

print fmt: \"NR %ld (%lx, %lx, %lx, %lx, %lx, %lx)\", REC->id, REC->args[0], REC->args[1], REC->args[2], REC->args[3], REC->args[4], REC->args[5]
";

const COUNT_LUA: &str = "\
local ffi = require('ffi')
local counts = bpf.map('hash', 256, ffi.typeof('uint32_t'), ffi.typeof('uint64_t'))

return {
  counts = counts,
  on_enter = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    local n = counts[ctx.id]
    if n then
      xadd(n, 1)
    else
      counts[ctx.id] = 1
    end
  end),
  drop_all = bpf.socket(function (skb)
    return 0
  end),
}
";

/// Two errors in two programs: both must be reported, each at its line.
const BAD_LUA: &str = "\
return {
  p = bpf.socket(function (skb)
    local x = 1.5
    return x
  end),
  q = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    return ctx.no_such_field
  end),
}
";

/// It compiles, and the verifier must reject it: socket filters may not call
/// `bpf_get_stackid` (net/core/filter.c, `sk_filter_func_proto`).
const FAR_LUA: &str = "\
local stacks = bpf.map('stack_trace', 16)
return {
  far = bpf.socket(function (skb) return stack_id(stacks, 0) end),
}
";

/// A scratch directory with the probe files and an events directory; removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("ljbpf-cli-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for (path, text) in [
            ("events/raw_syscalls/sys_enter/format", SYS_ENTER_FORMAT),
            ("count.lua", COUNT_LUA),
            ("bad.lua", BAD_LUA),
            ("far.lua", FAR_LUA),
        ] {
            let path = dir.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        Scratch(dir)
    }

    /// Runs `ljbpf --events-dir events ARGS` in the scratch directory.
    fn ljbpf(&self, args: &[&str]) -> Output {
        Command::new(LJBPF)
            .current_dir(&self.0)
            .args(["--events-dir", "events"])
            .args(args)
            .output()
            .expect("run ljbpf")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn show(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        stdout(out),
        stderr(out)
    )
}

/// Whether `check` can run; panics instead of skipping when `LJBPF_REQUIRE_KERNEL=1`.
fn kernel_available(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    let reason = "not root: `ljbpf check` loads programs with the bpf() syscall";
    if std::env::var("LJBPF_REQUIRE_KERNEL").as_deref() == Ok("1") {
        panic!("{test}: {reason} (LJBPF_REQUIRE_KERNEL=1)");
    }
    eprintln!("skipping {test}: {reason}");
    false
}

#[test]
fn dump_prints_the_listing_with_lua_lines() {
    let scratch = Scratch::new("dump");
    let out = scratch.ljbpf(&["dump", "count.lua"]);
    assert!(out.status.success(), "{}", show(&out));
    let listing = stdout(&out);
    assert!(listing.contains("exit"), "{listing}");
    assert!(listing.contains("bpf_map_lookup_elem"), "{listing}");
    // ctx.id: a 64-bit load at offset 8 of the context, in kernel syntax.
    assert!(
        listing
            .lines()
            .any(|l| l.contains("= *(u64 *)(r") && l.contains(" +8)")),
        "no load of ctx.id:\n{listing}"
    );
    // Lua source lines are interleaved.
    assert!(listing.contains("local n = counts[ctx.id]"), "{listing}");
}

/// `dump --after PASS` prints the code after that pass; an unknown pass is a usage error that
/// lists every pass of the pipeline.
#[test]
fn dump_after_a_pass_and_an_unknown_pass() {
    let scratch = Scratch::new("after");
    let out = scratch.ljbpf(&["dump", "--after", "regalloc", "count.lua"]);
    assert!(out.status.success(), "{}", show(&out));
    let listing = stdout(&out);
    assert!(listing.contains("; after regalloc ("), "{listing}");
    assert!(!listing.contains("; after frame"), "{listing}");

    let out = scratch.ljbpf(&["dump", "--after", "inline", "count.lua"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = stderr(&out);
    assert!(err.contains("'inline'"), "{err}");
    for pass in ["lower", "facts", "values", "regalloc", "layout"] {
        assert!(err.contains(pass), "{pass} missing:\n{err}");
    }
}

/// `ljbpf dump FILE | head -1`: the reader closes the pipe early; ljbpf ends without a panic.
#[test]
fn dump_into_a_closed_pipe_ends_quietly() {
    use std::io::Read as _;
    let scratch = Scratch::new("pipe");
    // A listing far larger than a pipe's buffer (64 KiB), so the writer meets the closed end.
    let body: String = (0..3000)
        .map(|i| format!("    x = x + pkt[{}]\n", i % 40))
        .collect();
    let big = format!(
        "return {{ f = bpf.socket(function (skb)\n    local x = 0\n{body}    return x\n  end) }}\n"
    );
    std::fs::write(scratch.0.join("big.lua"), big).unwrap();
    let mut child = Command::new(LJBPF)
        .current_dir(&scratch.0)
        .args(["dump", "big.lua"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run ljbpf");
    // Read one byte, then close the pipe while ljbpf is still writing.
    let mut out = child.stdout.take().unwrap();
    let mut byte = [0u8; 1];
    out.read_exact(&mut byte).unwrap();
    drop(out);
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(!err.contains("panicked"), "{err}");
    assert_ne!(status.code(), Some(101), "{err}");
}

#[test]
fn compile_writes_a_bpf_elf_object() {
    let scratch = Scratch::new("compile");
    let out = scratch.ljbpf(&["compile", "count.lua", "-o", "count.o"]);
    assert!(out.status.success(), "{}", show(&out));
    let object = scratch.0.join("count.o");
    let elf = std::fs::read(&object).unwrap();
    assert_eq!(&elf[..4], b"\x7fELF");
    assert_eq!(elf[4], 2, "ELFCLASS64");
    assert_eq!(u16::from_le_bytes([elf[16], elf[17]]), 1, "ET_REL");
    assert_eq!(u16::from_le_bytes([elf[18], elf[19]]), 247, "EM_BPF");

    let objdump = match Command::new("llvm-objdump").arg("-d").arg(&object).output() {
        Ok(out) => out,
        Err(e) if std::env::var("LJBPF_REQUIRE_KERNEL").as_deref() != Ok("1") => {
            eprintln!("skipping the llvm-objdump part: cannot run llvm-objdump: {e}");
            return;
        }
        Err(e) => panic!("cannot run llvm-objdump (apt-get install llvm): {e}"),
    };
    let text = stdout(&objdump);
    assert!(objdump.status.success(), "{}", show(&objdump));
    assert!(text.contains("tracepoint/raw_syscalls/sys_enter"), "{text}");
    assert!(text.contains("<on_enter>"), "{text}");
    assert!(text.contains("<drop_all>"), "{text}");
    assert!(text.contains("exit"), "{text}");
}

#[test]
fn bad_probe_exits_2_with_every_error_at_its_line() {
    let scratch = Scratch::new("bad");
    for command in [
        &["dump", "bad.lua"][..],
        &["compile", "bad.lua", "-o", "bad.o"],
        &["check", "bad.lua"],
    ] {
        let out = scratch.ljbpf(command);
        assert_eq!(out.status.code(), Some(2), "{command:?}: {}", show(&out));
        let err = stderr(&out);
        assert!(err.contains("bad.lua:3: error:"), "{command:?}: {err}");
        assert!(err.contains("bad.lua:7: error:"), "{command:?}: {err}");
        assert!(err.contains("no_such_field"), "{command:?}: {err}");
        assert!(stdout(&out).is_empty(), "{command:?}: {}", show(&out));
    }
    assert!(!scratch.0.join("bad.o").exists());
}

#[test]
fn missing_file_exits_2() {
    let scratch = Scratch::new("missing");
    let out = scratch.ljbpf(&["dump", "nope.lua"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(stderr(&out).contains("nope.lua"), "{}", show(&out));
}

#[test]
fn check_accepts_a_good_probe() {
    if !kernel_available("check_accepts_a_good_probe") {
        return;
    }
    let scratch = Scratch::new("check");
    let out = scratch.ljbpf(&["check", "count.lua"]);
    assert!(out.status.success(), "{}", show(&out));
    let table = stdout(&out);
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["PROGRAM", "KIND", "INSNS", "PROCESSED", "STACK", "VERDICT"],
        "{table}"
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows.len(), 2, "{table}");
    for (name, kind) in [("on_enter", "tracepoint"), ("drop_all", "socket_filter")] {
        let row = rows
            .iter()
            .find(|r| r[0] == name)
            .unwrap_or_else(|| panic!("no row for {name}:\n{table}"));
        assert_eq!(row[1], kind, "{table}");
        let insns: u32 = row[2].parse().unwrap();
        let processed: u32 = row[3].parse().unwrap();
        assert!(insns > 0 && processed > 0, "{table}");
        assert_eq!(row[5], "ok", "{table}");
    }
}

#[test]
fn check_json_has_one_object_per_program() {
    if !kernel_available("check_json_has_one_object_per_program") {
        return;
    }
    let scratch = Scratch::new("json");
    let out = scratch.ljbpf(&["check", "--json", "count.lua"]);
    assert!(out.status.success(), "{}", show(&out));
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let programs = value.as_array().unwrap();
    assert_eq!(programs.len(), 2, "{value}");
    let on_enter = programs.iter().find(|p| p["name"] == "on_enter").unwrap();
    assert_eq!(on_enter["kind"], "tracepoint");
    assert_eq!(on_enter["verdict"], "ok");
    assert!(on_enter["error"].is_null());
    assert!(on_enter["insns"].as_u64().unwrap() > 0);
    assert!(on_enter["processed"].as_u64().unwrap() > 0);
    assert!(on_enter["stack_bytes"].is_u64());
}

#[test]
fn check_reports_a_rejection_with_the_verifiers_words_and_the_lua_line() {
    if !kernel_available("check_reports_a_rejection") {
        return;
    }
    let scratch = Scratch::new("far");
    let out = scratch.ljbpf(&["check", "far.lua"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let text = stdout(&out);
    let row: Vec<&str> = text.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(row[0], "far", "{text}");
    assert_eq!(row[5], "rejected", "{text}");
    assert!(text.contains("far.lua:3"), "{text}");
    assert!(text.contains("cannot use helper bpf_get_stackid"), "{text}");

    let out = scratch.ljbpf(&["check", "--json", "far.lua"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value[0]["verdict"], "rejected", "{value}");
    assert!(
        value[0]["error"].as_str().unwrap().contains("far.lua:3"),
        "{value}"
    );
}

/// A tracepoint that the loading kernel does not have (the compiler takes its layout from the
/// kernel's BTF by event name and cannot know the categories of the kernel it will run on):
/// `check` says which one and where the kernel's tracepoints are listed, once.
#[test]
fn check_names_a_tracepoint_this_kernel_does_not_have() {
    if !kernel_available("check_names_a_tracepoint_this_kernel_does_not_have") {
        return;
    }
    let scratch = Scratch::new("no-tracepoint");
    let probe = scratch.0.join("fork.lua");
    std::fs::write(
        &probe,
        "local seen = bpf.map('hash', 64, 'uint32_t', 'uint32_t')
return {
  seen = seen,
  on_fork = bpf.tracepoint('nosuchcategory/sched_process_fork', function (ctx)
    seen[ctx.child_pid] = 1
  end),
}
",
    )
    .unwrap();
    let out = Command::new(LJBPF)
        .arg("check")
        .arg(&probe)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = stderr(&out);
    assert!(
        err.contains("program on_fork reads tracepoint nosuchcategory/sched_process_fork, which this kernel does not have"),
        "{err}"
    );
    assert!(err.contains("/events"), "{err}");
    assert_eq!(err.matches("nosuchcategory").count(), 2, "{err}");
}

/// Paths as the user typed them appear in diagnostics: an absolute path stays absolute.
#[test]
fn diagnostics_name_the_file_as_given() {
    let scratch = Scratch::new("abs");
    let bad: &Path = &scratch.0.join("bad.lua");
    let out = scratch.ljbpf(&["dump", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        stderr(&out).contains(&format!("{}:3: error:", bad.display())),
        "{}",
        show(&out)
    );
}
