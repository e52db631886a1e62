//! One table per fact: the names of map kinds, program kinds and helpers are written once, in
//! ljbpf-core's tables, and nowhere else in the compiler, the runtime, the CLI or the macros
//! (test modules aside). A new kind or helper then has one place to go.

use std::path::{Path, PathBuf};

use ljbpf_build::core::helper::Helper;
use ljbpf_build::core::map::MapKind;
use ljbpf_build::core::program::ProgramClass;
use ljbpf_tests::root;

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs" || x == "lua") {
            out.push(p);
        }
    }
}

#[test]
fn kind_and_helper_names_live_only_in_their_tables() {
    let workspace = root().join("..");
    let mut files = Vec::new();
    for krate in [
        "ljbpf-core",
        "ljbpf-build",
        "ljbpf-runtime",
        "ljbpf-cli",
        "ljbpf-macros",
    ] {
        sources(&workspace.join(krate).join("src"), &mut files);
    }
    let mut facts: Vec<(String, &str)> = Vec::new();
    // `hash` is also a `__sk_buff` field; the other map kind names are unambiguous.
    facts.extend(
        MapKind::ALL
            .iter()
            .filter(|k| **k != MapKind::Hash)
            .map(|k| (format!("\"{}\"", k.name()), "map.rs")),
    );
    facts.extend(
        ProgramClass::ALL
            .iter()
            .map(|c| (format!("\"{}\"", c.name()), "program.rs")),
    );
    facts.extend(
        Helper::ALL
            .iter()
            .map(|h| (format!("\"{}\"", h.name()), "helper.rs")),
    );
    assert!(facts.len() > 30);
    let mut found = Vec::new();
    let mut seen_in_table = 0;
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        // Test modules may spell out what they expect.
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        for (literal, table) in &facts {
            if !code.contains(literal.as_str()) {
                continue;
            }
            if f.ends_with(Path::new("ljbpf-core/src").join(table)) {
                seen_in_table += 1;
            } else {
                found.push(format!("{literal} in {}", f.display()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "written outside its table:\n{}",
        found.join("\n")
    );
    // The scan can fail: every fact is found in its own table.
    assert_eq!(seen_in_table, facts.len());
}
