//! The listing: each program's instructions in kernel syntax, with the Lua source line they
//! came from printed above them.

use std::fmt::Write;

use crate::mir::layout::Laid;

/// Appends the listing of one program to `out`; `maps` names map loads.
pub fn program(
    out: &mut String,
    name: &str,
    section: &str,
    file: &str,
    source: &str,
    laid: &Laid,
    maps: &[String],
) {
    let lines: Vec<&str> = source.lines().collect();
    let _ = writeln!(
        out,
        "{name}: ; section {section}, {} instructions",
        laid.raw.len()
    );
    let mut last = u32::MAX;
    for p in &laid.insns {
        if p.line != last {
            let src = lines
                .get((p.line as usize).wrapping_sub(1))
                .map_or("", |s| s.trim());
            let _ = writeln!(out, "; {file}:{}: {src}", p.line);
            last = p.line;
        }
        let _ = writeln!(out, "{:>5}: {}", p.slot, p.text(maps));
    }
    out.push('\n');
}
