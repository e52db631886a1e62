//! Every field of every tracepoint of this kernel (`/sys/kernel/tracing/events/*/*/format`) is
//! read by a compiled probe, and every such program passes the verifier: field offsets and sizes
//! come from the `format` files, so a wrong offset or a field kind the compiler cannot read
//! shows here.

use ljbpf_build::tracepoint::{events_dir, load_format, TpFieldKind};
use ljbpf_tests::{compile_str, kernel_ready};

/// `cat/name` of every tracepoint, sorted.
fn tracepoints() -> Vec<String> {
    let dir = events_dir(None);
    let mut out = Vec::new();
    let mut categories: Vec<String> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    categories.sort();
    for cat in &categories {
        let Ok(rd) = std::fs::read_dir(dir.join(cat)) else {
            continue;
        };
        let mut names: Vec<String> = rd
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join("format").is_file())
            .map(|e| format!("{cat}/{}", e.file_name().to_string_lossy()))
            .collect();
        names.sort();
        out.extend(names);
    }
    out
}

/// A program reading every field of `tp` and summing the numbers it gets.
fn program(tp: &str, idx: usize) -> (String, usize) {
    let format = load_format(&events_dir(None), tp).expect("format");
    let mut body = String::from("    local s = 0\n");
    let mut fields = 0;
    // The record header (common_*, first 8 bytes) is hidden from BPF: a compile error.
    for f in format.fields.iter().filter(|f| f.offset >= 8) {
        let read = match f.kind {
            TpFieldKind::Array { len, .. } if len > 0 => format!("ctx['{}'][{}]", f.name, len - 1),
            TpFieldKind::Array { .. } | TpFieldKind::Other => continue,
            _ => format!("ctx['{}']", f.name),
        };
        body.push_str(&format!("    s = s + {read}\n"));
        fields += 1;
    }
    let text = format!(
        "  p{idx} = bpf.tracepoint('{tp}', function (ctx)\n{body}    if s == 12345 then return 1 end\n    return 0\n  end),\n"
    );
    (text, fields)
}

#[test]
fn every_field_of_every_tracepoint_compiles_and_verifies() {
    let all = tracepoints();
    if all.is_empty() {
        assert!(
            std::env::var("LJBPF_REQUIRE_KERNEL").as_deref() != Ok("1"),
            "no tracepoint formats found (is tracefs mounted?)"
        );
        eprintln!("skipping: no tracepoint formats (tracefs not mounted)");
        return;
    }
    let kernel = kernel_ready("every_field_of_every_tracepoint");
    let (mut programs, mut fields, mut processed) = (0, 0, 0u64);
    for (chunk_no, chunk) in all.chunks(64).enumerate() {
        let mut src = String::from("return {\n");
        for (i, tp) in chunk.iter().enumerate() {
            let (text, n) = program(tp, i);
            src.push_str(&text);
            fields += n;
        }
        src.push_str("}\n");
        let name = format!("tracepoints{chunk_no}.lua");
        let probe = compile_str(&name, &src).unwrap_or_else(|d| panic!("{name}:\n{d}"));
        programs += probe.programs.len();
        if kernel {
            let rows = ljbpf_runtime::check(ljbpf_cli::spec(&probe)).expect("object loads");
            for row in rows {
                if let Err(e) = row.verdict {
                    panic!("{name}/{} rejected: {e}", row.name);
                }
                processed += u64::from(row.processed.unwrap_or(0));
            }
        }
    }
    println!(
        "{} tracepoints, {programs} programs, {fields} fields read, {processed} insns processed by the verifier",
        all.len()
    );
    assert_eq!(programs, all.len());
}
