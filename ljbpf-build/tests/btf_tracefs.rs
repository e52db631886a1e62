//! Tracepoint layouts from BTF against the kernel's own format files.
//!
//! For every `/sys/kernel/tracing/events/*/*/format`, the layout [`BtfEvents`] derives from
//! `/sys/kernel/btf/vmlinux` must be the same (field names, offsets, sizes, signedness and the
//! field kind the compiler reads them as) or BTF must say it cannot tell; it may never give a
//! different layout. Prints the counts (`cargo nextest run -p ljbpf-build --test btf_tracefs
//! --no-capture`). Needs tracefs, so root; skips with a printed reason otherwise, unless
//! `LJBPF_REQUIRE_KERNEL=1`.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::{mount_tracefs_if_missing, skip};
use ljbpf_build::kernel::btf::Btf;
use ljbpf_build::kernel::events::{self, BtfEvents, EventError};
use ljbpf_build::tracepoint::{self, TpField};

fn vmlinux() -> Option<Btf> {
    let path = Path::new(ljbpf_build::kernel::DEFAULT_VMLINUX);
    if !path.exists() {
        skip(&format!("{} does not exist", path.display()));
        return None;
    }
    Some(Btf::from_file(path).expect("the kernel's BTF parses"))
}

fn events_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(tracepoint::DEFAULT_EVENTS_DIR);
    mount_tracefs_if_missing(&dir);
    if std::fs::read_dir(&dir).is_err() || !dir.join("sched").is_dir() {
        skip(&format!(
            "{} is not readable (tracefs not mounted, or not root)",
            dir.display()
        ));
        return None;
    }
    Some(dir)
}

/// `category/name` of every event with a format file, sorted.
fn all_events(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let list = |d: &Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter(|e| e.path().is_dir())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    for cat in list(dir) {
        for name in list(&dir.join(&cat)) {
            if dir.join(&cat).join(&name).join("format").is_file() {
                out.push((cat.clone(), name));
            }
        }
    }
    out
}

/// What the compiler uses of a field (the declaration text is compared separately).
fn key(f: &TpField) -> (String, u32, u32, bool, String) {
    (
        f.name.clone(),
        f.offset,
        f.size,
        f.signed,
        format!("{:?}", f.kind),
    )
}

#[test]
fn btf_layouts_agree_with_tracefs() {
    let Some(btf) = vmlinux() else { return };
    let Some(dir) = events_dir() else { return };
    let ev = BtfEvents::new(btf);
    let (mut exact, mut decl_differs, mut incomplete) = (0, 0, 0);
    let mut differ = Vec::new();
    let mut unanswered: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut decl_examples = Vec::new();
    let events = all_events(&dir);
    for (cat, name) in &events {
        let spec = format!("{cat}/{name}");
        let Ok(want) = tracepoint::load_format(&dir, &spec) else {
            continue;
        };
        match ev.format(cat, name) {
            Ok(got) => {
                let a: Vec<_> = want.fields.iter().map(key).collect();
                let b: Vec<_> = got.fields.iter().map(key).collect();
                // BTF has no element type for dynamic arrays: those fields must agree in all but
                // the element (a `void[]` from BTF is a raw read).
                let loose = |v: &[(String, u32, u32, bool, String)]| -> Vec<_> {
                    v.iter()
                        .map(|(n, o, s, g, k)| {
                            let k = if k.starts_with("DataLoc") {
                                "DataLoc".into()
                            } else {
                                k.clone()
                            };
                            (n.clone(), *o, *s, *g, k)
                        })
                        .collect()
                };
                if events::is_incomplete(&got) && loose(&a) == loose(&b) {
                    incomplete += 1;
                } else if a == b {
                    exact += 1;
                    let decls =
                        |f: &[TpField]| f.iter().map(|f| f.decl.clone()).collect::<Vec<_>>();
                    if decls(&want.fields) != decls(&got.fields) {
                        decl_differs += 1;
                        if decl_examples.len() < 10 {
                            decl_examples.push(format!(
                                "{spec}: tracefs {:?} BTF {:?}",
                                decls(&want.fields),
                                decls(&got.fields)
                            ));
                        }
                    }
                } else {
                    differ.push(format!("{spec}:\n  tracefs {a:?}\n  BTF     {b:?}"));
                }
            }
            Err(e) => {
                let why = match &e {
                    EventError::NotFound(_) => "not in BTF".to_string(),
                    EventError::NoClass(_) => "no class".to_string(),
                    EventError::Ambiguous { .. } => "ambiguous class".to_string(),
                    EventError::NoSyscallArgs(_) => "no syscall argument names".to_string(),
                    other => format!("error: {other}"),
                };
                unanswered.entry(why).or_default().push(spec);
            }
        }
    }
    let not_found: usize = unanswered.values().map(Vec::len).sum();
    println!(
        "{} events: {exact} exact ({decl_differs} of them with other declaration text), \
         {incomplete} exact but for dynamic-array element types, {} differ, {not_found} not \
         answered by BTF",
        events.len(),
        differ.len()
    );
    for (why, specs) in &unanswered {
        println!("  {why}: {} ({})", specs.len(), specs.join(" "));
    }
    for d in &decl_examples {
        println!("  decl: {d}");
    }
    for d in &differ {
        println!("DIFFER {d}");
    }
    assert!(
        differ.is_empty(),
        "{} events have a different layout from BTF",
        differ.len()
    );
    // BTF answers for the great majority: a regression in class matching shows here.
    assert!(
        (exact + incomplete) * 10 >= events.len() * 8,
        "only {exact} of {} events",
        events.len()
    );
}

/// The built-in syscall table agrees with every `__do_sys_*` prototype BTF has.
#[test]
fn syscall_table_agrees_with_btf() {
    let Some(btf) = vmlinux() else { return };
    let ev = BtfEvents::new(btf);
    let mut checked = 0;
    for line in events::SYSCALL_TABLE
        .lines()
        .filter(|l| !l.starts_with('#'))
    {
        let sc = line.split('\t').next().unwrap_or_default();
        if ev.btf().func_proto(&format!("__do_sys_{sc}")).is_none() {
            continue;
        }
        let f = ev.format("syscalls", &format!("sys_enter_{sc}")).expect(sc);
        let from_btf: Vec<&str> = f.fields[5..].iter().map(|f| f.decl.as_str()).collect();
        let table = events::syscall_table_args(sc).unwrap_or_default();
        let names = |v: &[&str]| -> Vec<String> {
            v.iter()
                .map(|d| d.rsplit(' ').next().unwrap_or_default().to_string())
                .collect()
        };
        let table_refs: Vec<&str> = table.iter().map(String::as_str).collect();
        assert_eq!(names(&from_btf), names(&table_refs), "{sc}");
        checked += 1;
    }
    println!("{checked} syscalls checked against __do_sys_ prototypes");
}
