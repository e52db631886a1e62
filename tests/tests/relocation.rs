//! Tracepoint layouts move between kernels; a probe built against one kernel's layout reads the
//! right fields on another. Here the probe is compiled against Debian 12's 6.1 layout of
//! `sched/sched_process_fork` (`child_pid` at 44; the comms are `char[16]` arrays there, and
//! `__data_loc` strings since 6.10) and loaded on the running kernel: the loader moves every
//! field read to this kernel's offsets, and refuses, naming the Lua line, a field that is gone
//! or changed size. (The kernel matrix runs the reverse: host-built probes on 6.1 and 6.12.)

use std::path::{Path, PathBuf};

use ljbpf_build::{compile_source, CompiledProbe, Options};
use ljbpf_tests::kernel_ready;

/// `sched_process_fork` as Linux 6.1 lays it out (include/trace/events/sched.h before the
/// `__string` conversion of 6.10), plus one field no kernel has.
const FORK_6_1: &str = "name: sched_process_fork
ID: 1
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:char parent_comm[16];\toffset:8;\tsize:16;\tsigned:0;
\tfield:pid_t parent_pid;\toffset:24;\tsize:4;\tsigned:1;
\tfield:char child_comm[16];\toffset:28;\tsize:16;\tsigned:0;
\tfield:pid_t child_pid;\toffset:44;\tsize:4;\tsigned:1;
\tfield:int only_in_this_test;\toffset:48;\tsize:4;\tsigned:1;

print fmt: \"pid=%d child_pid=%d\", REC->parent_pid, REC->child_pid
";

fn events_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ljbpf-reloc-{}", std::process::id()));
    let fork = dir.join("sched/sched_process_fork");
    std::fs::create_dir_all(&fork).unwrap();
    std::fs::write(fork.join("format"), FORK_6_1).unwrap();
    dir
}

fn compile(dir: &Path, body: &str) -> CompiledProbe {
    let source = format!(
        "local ffi = require('ffi')
local seen = bpf.map('hash', 1024, ffi.typeof('int32_t'), ffi.typeof('int32_t'))
return {{
  seen = seen,
  on_fork = bpf.tracepoint('sched/sched_process_fork', function (ctx)
{body}
  end),
}}
"
    );
    let opts = Options {
        events_dir: Some(dir.to_path_buf()),
        ..Options::default()
    };
    compile_source(Path::new("fork.lua"), &source, &opts).unwrap_or_else(|d| panic!("{d}"))
}

#[test]
fn fields_built_against_another_layout_read_right() {
    let dir = events_dir();
    let probe = compile(&dir, "    seen[ctx.child_pid] = ctx.parent_pid");
    // Compiled against 6.1: the reads are at 44 and 24, each marked to move.
    let relocs: Vec<(String, u32)> = probe.programs[0]
        .relocs
        .iter()
        .map(|r| (r.field.to_string(), r.offset))
        .collect();
    assert_eq!(
        relocs,
        [
            ("child_pid".to_string(), 44),
            ("parent_pid".to_string(), 24)
        ]
    );
    if !kernel_ready("fields_built_against_another_layout_read_right") {
        return;
    }
    let mut loaded = ljbpf_runtime::Probe::load(ljbpf_cli::spec(&probe))
        .unwrap_or_else(|e| panic!("{e}\n{}", probe.listing));
    loaded.attach("on_fork").unwrap();
    let mut children = Vec::new();
    for _ in 0..3 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        children.push(child.id() as i32);
        child.wait().unwrap();
    }
    let seen: ljbpf_runtime::aya::maps::HashMap<_, i32, i32> =
        ljbpf_runtime::aya::maps::HashMap::try_from(loaded.map_mut("seen").unwrap()).unwrap();
    let me = std::process::id() as i32;
    for child in children {
        // The fork is traced in the forking thread; its pid is this process's thread id.
        let parent = seen
            .get(&child, 0)
            .unwrap_or_else(|e| panic!("child {child} not seen: {e}"));
        assert!(parent > 0, "child {child}: parent {parent}");
        let tgid = std::fs::read_to_string(format!("/proc/self/task/{parent}/status"))
            .map(|s| s.contains(&format!("Tgid:\t{me}")))
            .unwrap_or(false);
        assert!(
            tgid,
            "child {child}: parent {parent} is not a thread of {me}"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// A string copied with `ffi.copy` reads right whichever form the kernel has: built against
/// 6.1's `char child_comm[16]`, run on a kernel with a `__data_loc` string (6.10 and later).
#[test]
fn strings_read_right_as_arrays_or_data_loc() {
    let dir = events_dir();
    let probe = compile(
        &dir,
        "    local c = ffi.new('char[16]')\n    ffi.copy(c, ctx.child_comm)\n    seen[ctx.child_pid] = c[0] + c[1] * 256 + c[2] * 65536",
    );
    let kinds: Vec<_> = probe.programs[0]
        .relocs
        .iter()
        .map(|r| (r.field.to_string(), r.kind))
        .collect();
    assert!(
        kinds.contains(&(
            "child_comm".to_string(),
            ljbpf_runtime::RelocKind::StringStart
        )),
        "{kinds:?}"
    );
    if !kernel_ready("strings_read_right_as_arrays_or_data_loc") {
        return;
    }
    let mut loaded = ljbpf_runtime::Probe::load(ljbpf_cli::spec(&probe))
        .unwrap_or_else(|e| panic!("{e}\n{}", probe.listing));
    loaded.attach("on_fork").unwrap();
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id() as i32;
    child.wait().unwrap();
    let seen: ljbpf_runtime::aya::maps::HashMap<_, i32, i32> =
        ljbpf_runtime::aya::maps::HashMap::try_from(loaded.map_mut("seen").unwrap()).unwrap();
    let got = seen.get(&pid, 0).expect("the fork was seen");
    // At fork the child's comm is the forking thread's.
    let comm = std::fs::read_to_string("/proc/thread-self/comm").unwrap();
    let b = comm.as_bytes();
    let want = i32::from(b[0]) + i32::from(b[1]) * 256 + i32::from(b[2]) * 65536;
    assert_eq!(got, want, "comm {comm:?}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_field_gone_or_resized_is_a_load_error_at_the_lua_line() {
    let dir = events_dir();
    let gone = compile(&dir, "    seen[1] = ctx.only_in_this_test");
    // The comm arrays became 4-byte __data_loc fields in 6.10: a byte of the array is gone.
    let resized = compile(&dir, "    seen[1] = ctx.child_comm[0]");
    if !kernel_ready("a_field_gone_or_resized_is_a_load_error_at_the_lua_line") {
        return;
    }
    let e = match ljbpf_runtime::Probe::load(ljbpf_cli::spec(&gone)) {
        Ok(_) => panic!("a missing field must not load"),
        Err(e) => e.to_string(),
    };
    assert!(
        e.contains("only_in_this_test")
            && e.contains("fork.lua:6")
            && e.contains("sched_process_fork"),
        "{e}"
    );
    let e = match ljbpf_runtime::Probe::load(ljbpf_cli::spec(&resized)) {
        Ok(_) => panic!("a resized field must not load"),
        Err(e) => e.to_string(),
    };
    assert!(
        e.contains("child_comm") && e.contains("16 bytes") && e.contains("fork.lua:6"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
