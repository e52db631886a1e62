//! The bad-input corpus (`tests/bad/*.lua`): probe files that must fail to compile. Each has a
//! golden `.expected` beside it holding every diagnostic the compiler gives, one per line as
//! `file:line: error: message` (plus an optional `  hint: ...` line). `LJBPF_BLESS=1` rewrites
//! the goldens; review them as a user would before accepting.
//!
//! Besides the goldens, every case must: fail (not compile), not panic, not report an internal
//! error, and give each diagnostic a line unless it is about the file as a whole.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use ljbpf_tests::{compile_str, golden, root};

/// Cases whose diagnostics may have no line: they are about the file as a whole (what it
/// returns, or that its top level never finished).
const WHOLE_FILE: &[&str] = &[
    "004-returns-nothing",
    "005-returns-number",
    "006-returned-key-not-map-or-program",
    "007-no-programs",
    "053-top-level-infinite-loop",
    "134-top-level-runaway-memory",
    "152-hand-made-program-table",
    "153-hand-made-map-table",
    "160-mutated-declaration",
];

/// Cases that end at the evaluator's limits: on a busy machine the wall-clock limit can stop a
/// memory bomb before it reaches the memory limit, so their golden says only that a limit
/// stopped them.
const LIMITS: &[&str] = &["134-top-level-runaway-memory"];

fn is_limit(message: &str) -> bool {
    message.contains("ran for more than")
        || message.contains("MiB of memory")
        || message.contains("of processor time")
}

fn bad_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("bad"))
        .expect("tests/bad exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "lua"))
        .collect();
    files.sort();
    files
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic>".to_string()
    }
}

/// Checks one bad file; returns the problems found.
fn check(path: &PathBuf) -> Vec<String> {
    let file = path.file_name().unwrap().to_string_lossy().to_string();
    let name = format!("bad/{file}");
    // Bytes: some cases are not UTF-8, as Lua files need not be.
    let source = std::fs::read(path).unwrap();
    let result = match catch_unwind(AssertUnwindSafe(|| compile_str(&name, &source))) {
        Ok(r) => r,
        Err(p) => {
            return vec![format!(
                "{name}: the compiler panicked: {}",
                panic_text(&*p)
            )]
        }
    };
    let diags = match result {
        Ok(_) => return vec![format!("{name}: compiled, but must fail")],
        Err(d) => d,
    };
    let mut problems = Vec::new();
    if diags.0.is_empty() {
        problems.push(format!("{name}: failed with no diagnostics"));
    }
    let stem = file.trim_end_matches(".lua");
    let line_optional = WHOLE_FILE.contains(&stem);
    for d in &diags.0 {
        if d.message.contains("internal error") {
            problems.push(format!("{name}: internal error on bad input: {d}"));
        }
        if d.span.line == 0 && !line_optional {
            problems.push(format!("{name}: diagnostic without a line: {d}"));
        }
        if d.span.file != name {
            problems.push(format!("{name}: diagnostic names another file: {d}"));
        }
    }
    let expected = format!("bad/{stem}.expected");
    let answer = if LIMITS.contains(&stem) && diags.0.iter().all(|d| is_limit(&d.message)) {
        format!("{name}: error: stopped by the time or the memory limit\n")
    } else {
        format!("{diags}\n")
    };
    if let Err(e) = golden(&expected, &answer) {
        problems.push(e);
    }
    problems
}

#[test]
fn bad_inputs_fail_with_their_expected_diagnostics() {
    let mut problems = Vec::new();
    for f in bad_files() {
        problems.extend(check(&f));
    }
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn the_bad_input_corpus_is_large_enough() {
    let n = bad_files().len();
    assert!(n >= 40, "tests/bad has {n} probe files, want at least 40");
}

#[test]
fn the_whole_file_list_names_existing_cases() {
    let dir = root().join("bad");
    for stem in WHOLE_FILE {
        assert!(
            dir.join(format!("{stem}.lua")).exists(),
            "{stem} is listed but tests/bad/{stem}.lua does not exist"
        );
    }
}

#[test]
fn every_bad_input_has_a_golden_and_every_golden_a_probe() {
    let dir = root().join("bad");
    let mut orphans = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap().filter_map(|e| e.ok()) {
        let p = e.path();
        match p.extension().and_then(|x| x.to_str()) {
            Some("lua") => {
                if !p.with_extension("expected").exists() {
                    orphans.push(format!("{}: no .expected golden", p.display()));
                }
            }
            Some("expected") => {
                if !p.with_extension("lua").exists() {
                    orphans.push(format!("{}: no .lua probe", p.display()));
                }
            }
            _ => orphans.push(format!("{}: neither .lua nor .expected", p.display())),
        }
    }
    orphans.sort();
    assert!(orphans.is_empty(), "{}", orphans.join("\n"));
}
