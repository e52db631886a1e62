//! Tracepoint format files: every one on this machine, well-known ones, load errors and
//! garbled input.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::{is_root, mount_tracefs_if_missing, skip, Rng};
use ljbpf_build::tracepoint::{self, TpError, TpFieldKind};

/// The live events directory, mounting tracefs if needed and possible; `None` (after printing
/// why) when unavailable and not required.
fn live_events_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(tracepoint::DEFAULT_EVENTS_DIR);
    mount_tracefs_if_missing(&dir);
    if dir.is_dir() {
        return Some(dir);
    }
    let why = format!(
        "{} does not exist (tracefs not mounted{})",
        dir.display(),
        if is_root() {
            ""
        } else {
            ", and not root to mount it"
        }
    );
    skip(&why);
    None
}

fn kind_name(k: &TpFieldKind) -> &'static str {
    match k {
        TpFieldKind::Int => "Int",
        TpFieldKind::Pointer => "Pointer",
        TpFieldKind::Array { len: 0, .. } => "Array[]",
        TpFieldKind::Array { .. } => "Array",
        TpFieldKind::DataLoc { .. } => "DataLoc",
        TpFieldKind::RelLoc { .. } => "RelLoc",
        TpFieldKind::Other => "Other",
    }
}

#[test]
fn every_format_file_parses() {
    let Some(dir) = live_events_dir() else { return };
    let mut specs = Vec::new();
    for cat in read_dir_sorted(&dir) {
        for ev in read_dir_sorted(&cat) {
            if ev.join("format").is_file() {
                let c = cat.file_name().map(|s| s.to_string_lossy().into_owned());
                let e = ev.file_name().map(|s| s.to_string_lossy().into_owned());
                if let (Some(c), Some(e)) = (c, e) {
                    specs.push(format!("{c}/{e}"));
                }
            }
        }
    }
    let mut failures = Vec::new();
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    let mut fields = 0usize;
    let mut others = Vec::new();
    for spec in &specs {
        match tracepoint::load_format(&dir, spec) {
            Ok(f) => {
                for fld in &f.fields {
                    fields += 1;
                    *kinds.entry(kind_name(&fld.kind)).or_default() += 1;
                    if fld.kind == TpFieldKind::Other {
                        others.push(format!("{spec}: {} (size {})", fld.decl, fld.size));
                    }
                    // Sanity of the classification against the file's own numbers.
                    let ok = match fld.kind {
                        TpFieldKind::Int => matches!(fld.size, 1 | 2 | 4 | 8),
                        TpFieldKind::Pointer => fld.size == 8,
                        TpFieldKind::Array { elem_size, len, .. } => {
                            elem_size > 0 && elem_size * len == fld.size
                        }
                        TpFieldKind::DataLoc { .. } | TpFieldKind::RelLoc { .. } => fld.size == 4,
                        TpFieldKind::Other => true,
                    };
                    if !ok {
                        failures.push(format!("{spec}: {fld:?}"));
                    }
                }
                if f.field("common_type").map(|c| (c.offset, c.size)) != Some((0, 2)) {
                    failures.push(format!("{spec}: no common_type at 0"));
                }
                if f.id.is_none() {
                    failures.push(format!("{spec}: no ID"));
                }
            }
            Err(e) => failures.push(format!("{spec}: {e}")),
        }
    }
    println!(
        "{} formats, {} fields, {} failures; fields per kind: {kinds:?}",
        specs.len(),
        fields,
        failures.len()
    );
    println!("kind Other: {}", others.join("; "));
    assert!(failures.is_empty(), "failures:\n{}", failures.join("\n"));
    assert!(!specs.is_empty(), "no format files under {}", dir.display());
}

fn read_dir_sorted(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn well_known_tracepoints() {
    let Some(dir) = live_events_dir() else { return };
    let write = tracepoint::load_format(&dir, "syscalls/sys_enter_write").expect("sys_enter_write");
    let fd = write.field("fd").expect("fd");
    assert_eq!(
        (fd.offset, fd.size, fd.signed, fd.kind),
        (16, 8, false, TpFieldKind::Int)
    );
    assert_eq!(fd.decl, "unsigned int fd");
    assert_eq!(
        write.field("buf").map(|f| f.kind),
        Some(TpFieldKind::Pointer)
    );
    assert_eq!(
        write
            .field("common_pid")
            .map(|f| (f.offset, f.size, f.signed)),
        Some((4, 4, true))
    );

    let raw =
        tracepoint::load_format(&dir, "raw_syscalls/sys_enter").expect("raw_syscalls/sys_enter");
    let args = raw.field("args").expect("args");
    assert_eq!(args.offset, 16);
    assert!(
        matches!(
            args.kind,
            TpFieldKind::Array {
                elem_size: 8,
                len: 6,
                ..
            }
        ),
        "{args:?}"
    );
    assert_eq!(
        raw.field("id").map(|f| (f.offset, f.size, f.signed)),
        Some((8, 8, true))
    );

    let sw = tracepoint::load_format(&dir, "sched/sched_switch").expect("sched_switch");
    let comm = sw.field("prev_comm").expect("prev_comm");
    assert_eq!(
        (comm.offset, comm.size, comm.kind),
        (
            8,
            16,
            TpFieldKind::Array {
                elem_size: 1,
                len: 16,
                elem_signed: false,
                is_char: true
            }
        )
    );

    let exec =
        tracepoint::load_format(&dir, "sched/sched_process_exec").expect("sched_process_exec");
    let filename = exec.field("filename").expect("filename");
    assert_eq!(
        (filename.size, filename.kind),
        (4, TpFieldKind::DataLoc { is_char: true })
    );

    let msg = write.unknown_field_message("fdd");
    assert!(
        msg.contains("no field `fdd`") && msg.contains("fd, buf, count"),
        "{msg}"
    );
}

#[test]
fn load_errors() {
    let dir = live_events_dir().unwrap_or_else(|| PathBuf::from("/nonexistent"));
    match tracepoint::load_format(&dir, "syscalls/sys_enter_wirte") {
        Err(TpError::UnknownTracepoint { suggestions, .. }) if dir.is_dir() => {
            let e = tracepoint::load_format(&dir, "syscalls/sys_enter_wirte")
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(
                e.contains("syscalls/sys_enter_wirte") && e.contains("LJBPF_TRACEFS_EVENTS"),
                "{e}"
            );
            assert!(
                e.contains("mount -t tracefs nodev /sys/kernel/tracing"),
                "{e}"
            );
            assert!(
                suggestions
                    .iter()
                    .any(|s| s.starts_with("syscalls/sys_enter_w")),
                "{suggestions:?}"
            );
        }
        Err(TpError::NoEventsDir { .. }) if !dir.is_dir() => {}
        other => panic!("unexpected: {other:?}"),
    }
    let e = tracepoint::load_format(Path::new("/nonexistent/events"), "sched/sched_switch")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        e.contains("/nonexistent/events") && e.contains("mount -t tracefs"),
        "{e}"
    );
    for bad in ["sched", "sched/", "../x/y", "a/b/c"] {
        assert!(
            matches!(
                tracepoint::load_format(&dir, bad),
                Err(TpError::BadSpec { .. })
            ),
            "{bad}"
        );
    }
    assert_eq!(
        tracepoint::events_dir(Some(Path::new("/x"))),
        PathBuf::from("/x")
    );
    let e = tracepoint::parse_format(
        "c",
        "n",
        "name: n\nID: 1\nformat:\n\tfield:int x;\toffset:zz;\tsize:4;\n",
    )
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(e.contains("line 4") && e.contains("offset"), "{e}");
    assert!(tracepoint::parse_format("c", "n", "garbage").is_err());
    assert!(tracepoint::parse_format("c", "n", "").is_err());
}

#[test]
fn format_parser_never_panics() {
    let text = "name: x\nID: 5\nformat:\n\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\
                \tfield:__data_loc char[] name;\toffset:8;\tsize:4;\tsigned:0;\n\
                \tfield:char comm[16];\toffset:12;\tsize:16;\tsigned:0;\n\
                \tfield:const void *const p[2];\toffset:32;\tsize:16;\tsigned:0;\n\nprint fmt: \"%s\"\n";
    assert!(tracepoint::parse_format("c", "x", text).is_ok());
    let bytes = text.as_bytes();
    for end in 0..=bytes.len() {
        let _ = tracepoint::parse_format("c", "x", &String::from_utf8_lossy(&bytes[..end]));
    }
    let mut rng = Rng(12345);
    let alphabet = b"[]:;*\t\n 0123456789_abc\xc3\xa9";
    for _ in 0..3000 {
        let mut v = bytes.to_vec();
        for _ in 0..1 + rng.next() % 6 {
            let at = (rng.next() as usize) % v.len().max(1);
            let c = alphabet[(rng.next() as usize) % alphabet.len()];
            if at < v.len() {
                v[at] = c;
            }
        }
        let _ = tracepoint::parse_format("c", "x", &String::from_utf8_lossy(&v));
    }
}
