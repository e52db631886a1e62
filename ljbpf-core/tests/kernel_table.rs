//! The README's minimum-kernel table is made from the tables in this crate: program kinds, map
//! kinds, helpers and ISA levels, each with its first Linux version. This test fails when the
//! README and the code disagree; `LJBPF_BLESS=1` rewrites the README's table (between its two
//! marker lines) from the code.

use std::path::Path;

use ljbpf_core::helper::Helper;
use ljbpf_core::insn::Isa;
use ljbpf_core::map::MapKind;
use ljbpf_core::program::ProgramClass;

const BEGIN: &str =
    "<!-- minimum-kernel table: generated from ljbpf-core by ljbpf-core/tests/kernel_table.rs -->";
const END: &str = "<!-- end of minimum-kernel table -->";

/// `major.minor` as numbers, for sorting.
fn version(v: &str) -> (u32, u32) {
    let (major, minor) = v.split_once('.').expect("major.minor");
    (major.parse().unwrap(), minor.parse().unwrap())
}

/// The table: one row per feature, oldest first within each group.
fn table() -> String {
    let mut rows: Vec<(&str, String, &str)> = Vec::new();
    let mut group = |what: &'static str, mut items: Vec<(String, &'static str)>| {
        // By version, then by name without the Markdown quoting.
        items.sort_by_key(|(name, since)| (version(since), name.replace('`', "")));
        rows.extend(items.into_iter().map(|(name, since)| (what, name, since)));
    };
    group(
        "ISA level",
        Isa::ALL
            .iter()
            .map(|i| (format!("`{i}`"), i.since()))
            .collect(),
    );
    group(
        "program kind",
        ProgramClass::ALL
            .iter()
            .map(|c| (format!("{} (`{}`)", c.name(), c.constructor()), c.since()))
            .collect(),
    );
    group(
        "map kind",
        MapKind::ALL
            .iter()
            .map(|k| (format!("`{}`", k.name()), k.since()))
            .collect(),
    );
    group(
        "helper",
        Helper::ALL
            .iter()
            .map(|h| (format!("`{}`", h.name()), h.since()))
            .collect(),
    );
    let mut out = String::from("| feature | what | first Linux |\n|---|---|---|\n");
    for (what, name, since) in rows {
        out.push_str(&format!("| {name} | {what} | {since} |\n"));
    }
    out
}

#[test]
fn readme_kernel_table_matches_the_code() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let (Some(begin), Some(end)) = (readme.find(BEGIN), readme.find(END)) else {
        panic!("README.md has no minimum-kernel table between `{BEGIN}` and `{END}`");
    };
    let start = begin + BEGIN.len() + 1;
    let want = table();
    if std::env::var("LJBPF_BLESS").as_deref() == Ok("1") {
        let updated = format!("{}{want}{}", &readme[..start], &readme[end..]);
        std::fs::write(&path, updated).unwrap();
        return;
    }
    assert_eq!(
        &readme[start..end],
        want,
        "README.md's minimum-kernel table differs from ljbpf-core's tables \
         (LJBPF_BLESS=1 cargo nextest run -p ljbpf-core --test kernel_table rewrites it)"
    );
}
