//! The probe corpus (`tests/corpus/*.lua`): every probe compiles, its listing matches the
//! golden `.lst` beside it (`LJBPF_BLESS=1` rewrites them), and every program passes the live
//! kernel verifier (fentry/fexit where the kernel attaches BPF trampolines).

use std::path::{Path, PathBuf};

use ljbpf_tests::{compile_ok, golden, kernel_ready, load, root};

fn corpus() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("corpus"))
        .expect("tests/corpus exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "lua"))
        .collect();
    files.sort();
    files
}

fn compile(path: &Path) -> ljbpf_build::CompiledProbe {
    let name = format!("corpus/{}", path.file_name().unwrap().to_string_lossy());
    let source = std::fs::read_to_string(path).unwrap();
    compile_ok(&name, &source)
}

#[test]
fn listings_match_goldens() {
    let files = corpus();
    assert!(files.len() >= 10, "the corpus has {} probes", files.len());
    let mut failures = Vec::new();
    for f in &files {
        let probe = compile(f);
        let lst = format!("corpus/{}.lst", probe.name);
        if let Err(e) = golden(&lst, &probe.listing) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_corpus_program_passes_the_verifier() {
    if !kernel_ready("every_corpus_program_passes_the_verifier") {
        return;
    }
    let mut summary = Vec::new();
    for f in corpus() {
        let probe = compile(&f);
        let spec = ljbpf_cli::spec(&probe);
        let rows = ljbpf_runtime::check(spec).unwrap_or_else(|e| panic!("{}: {e}", probe.name));
        for row in rows {
            // A kernel that cannot attach BPF trampolines refuses fentry/fexit before the
            // verifier runs (this host's virtualised 6.18 does); the kernel matrix's guests
            // verify them.
            if let Err(e @ ljbpf_runtime::Error::NoTrampoline { .. }) = &row.verdict {
                summary.push(format!(
                    "{:<10} {:<12} not verified: {e}",
                    probe.name, row.name
                ));
                continue;
            }
            if let Err(e) = &row.verdict {
                panic!(
                    "{}/{} rejected: {e}\n{}",
                    probe.name, row.name, probe.listing
                );
            }
            summary.push(format!(
                "{:<10} {:<12} {:>5} insns {:>6} processed {:>4} stack",
                probe.name,
                row.name,
                row.insns,
                row.processed.map_or("?".to_string(), |p| p.to_string()),
                row.stack_bytes
            ));
        }
    }
    println!("{}", summary.join("\n"));
}

#[test]
fn corpus_tracepoint_probes_attach() {
    if !kernel_ready("corpus_tracepoint_probes_attach") {
        return;
    }
    for f in corpus() {
        let probe = compile(&f);
        let all_tracepoints = probe
            .programs
            .iter()
            .all(|p| matches!(p.kind, ljbpf_build::ProgramKind::Tracepoint { .. }));
        if !all_tracepoints {
            continue;
        }
        let mut loaded = load(&probe);
        loaded
            .attach_all()
            .unwrap_or_else(|e| panic!("{}: {e}", probe.name));
    }
}
