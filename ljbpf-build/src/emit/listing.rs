//! Stage 7b: the listing: each program's instructions in kernel syntax, with the Lua source
//! line they came from printed above them.

use std::fmt::Write;

use crate::bpf::layout::Laid;

/// Appends the listing of one program to `out`.
pub fn program(out: &mut String, name: &str, section: &str, file: &str, source: &str, laid: &Laid) {
    let lines: Vec<&str> = source.lines().collect();
    let _ = writeln!(
        out,
        "{name}: ; section {section}, {} instructions",
        laid.raw.len()
    );
    let mut last = u32::MAX;
    for (slot, line, text) in &laid.text {
        if *line != last {
            let src = lines
                .get((*line as usize).wrapping_sub(1))
                .map_or("", |s| s.trim());
            let _ = writeln!(out, "; {file}:{line}: {src}");
            last = *line;
        }
        let _ = writeln!(out, "{slot:>5}: {text}");
    }
    out.push('\n');
}
