//! The `ljbpf` command's library side: turning a compiled probe into the runtime's
//! description, shared by the CLI and the project's tests.

use std::collections::BTreeSet;

use ljbpf_build::CompiledProbe;
use ljbpf_runtime::{LineEntry, ProbeSpec, ProgramInfo};

/// The runtime's description of a compiled probe. The CLI lives for one command, so leaking
/// gives the `'static` data generated bindings would have as statics (program kinds are the
/// same type on both sides and are cloned).
pub fn spec(probe: &CompiledProbe) -> &'static ProbeSpec {
    // One leaked copy per distinct file name, not one per line entry.
    let mut files: BTreeSet<&'static str> = BTreeSet::new();
    let mut intern = |file: &str| -> &'static str {
        if let Some(&known) = files.get(file) {
            return known;
        }
        let leaked = leak_str(file);
        files.insert(leaked);
        leaked
    };
    let programs: Vec<ProgramInfo> = probe
        .programs
        .iter()
        .map(|p| {
            let lines: Vec<LineEntry> = p
                .lines
                .iter()
                .map(|(insn, span)| LineEntry {
                    insn: *insn,
                    file: intern(&span.file),
                    line: span.line,
                })
                .collect();
            ProgramInfo {
                name: leak_str(&p.name),
                kind: p.kind.clone(),
                insns: p.insn_count,
                stack_bytes: p.stack_bytes,
                lines: Box::leak(lines.into_boxed_slice()),
                relocs: Box::leak(p.relocs.clone().into_boxed_slice()),
            }
        })
        .collect();
    let maps: Vec<&'static str> = probe.maps.iter().map(|m| leak_str(&m.name)).collect();
    Box::leak(Box::new(ProbeSpec {
        name: leak_str(&probe.name),
        elf: Box::leak(probe.elf.clone().into_boxed_slice()),
        programs: Box::leak(programs.into_boxed_slice()),
        maps: Box::leak(maps.into_boxed_slice()),
        requires: Box::leak(probe.requires.clone().into_boxed_slice()),
    }))
}

fn leak_str(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}

/// An error with its causes, `error: cause: cause`. A verifier rejection's own `Display` already
/// carries the verifier's words and the Lua line; its source (the errno) adds nothing.
pub fn chain(e: &ljbpf_runtime::Error) -> String {
    let mut message = e.to_string();
    if matches!(e, ljbpf_runtime::Error::Verifier { .. }) {
        return message;
    }
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    message
}
