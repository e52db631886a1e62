//! The static description of a compiled probe file, written by generated code.

use std::fmt;

/// Maps a range of BPF instructions back to the Lua line that produced them.
///
/// A program's table is sorted by `insn`; entry `i` covers instructions
/// `[insn_i, insn_{i+1})`, the last entry covers everything after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineEntry {
    /// First instruction index (8-byte units) of the range.
    pub insn: u32,
    /// Lua source file, as the compiler named it (e.g. `probes/syscount.lua`).
    pub file: &'static str,
    /// 1-based Lua line.
    pub line: u32,
}

/// A Lua source position: `file:line`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceLocation {
    /// Lua source file.
    pub file: &'static str,
    /// 1-based Lua line.
    pub line: u32,
}

impl fmt::Display for SourceLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

pub use ljbpf_core::program::ProgramKind;

/// What the compiler knows about one program of a probe file.
#[derive(Debug, Clone)]
pub struct ProgramInfo {
    /// Program (ELF function symbol) name.
    pub name: &'static str,
    /// Attach kind and target.
    pub kind: ProgramKind,
    /// Number of instructions (8-byte units) emitted.
    pub insns: u32,
    /// Stack bytes used, as laid out by the compiler.
    pub stack_bytes: u32,
    /// Instruction → Lua line table, sorted by `insn`.
    pub lines: &'static [LineEntry],
    /// Instructions that move with the loading kernel's tracepoint layout.
    pub relocs: &'static [ljbpf_core::reloc::FieldReloc],
}

impl ProgramInfo {
    /// The Lua line that produced instruction `insn`, if the table covers it.
    pub fn location_of(&self, insn: u32) -> Option<SourceLocation> {
        // Index of the first entry starting after `insn`; the one before it covers `insn`.
        let after = self.lines.partition_point(|entry| entry.insn <= insn);
        let entry = self.lines.get(after.checked_sub(1)?)?;
        Some(SourceLocation {
            file: entry.file,
            line: entry.line,
        })
    }
}

/// One compiled probe file: its ELF object and program descriptions.
#[derive(Debug, Clone)]
pub struct ProbeSpec {
    /// Probe name (the Lua file stem), used in messages.
    pub name: &'static str,
    /// The ELF object (`ljbpf-build`'s `emit::elf` output).
    pub elf: &'static [u8],
    /// Programs of the object.
    pub programs: &'static [ProgramInfo],
    /// Map names of the object.
    pub maps: &'static [&'static str],
    /// The kernel features the probe uses, newest first.
    pub requires: &'static [ljbpf_core::requires::Requirement],
}

impl ProbeSpec {
    /// The description of program `name`.
    pub fn program(&self, name: &str) -> Option<&'static ProgramInfo> {
        self.programs.iter().find(|p| p.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINES: &[LineEntry] = &[
        LineEntry {
            insn: 0,
            file: "x.lua",
            line: 3,
        },
        LineEntry {
            insn: 4,
            file: "x.lua",
            line: 5,
        },
    ];

    #[test]
    fn location_lookup_uses_ranges() {
        let info = ProgramInfo {
            name: "p",
            kind: ProgramKind::SocketFilter { iface: None },
            insns: 10,
            stack_bytes: 0,
            lines: LINES,
            relocs: &[],
        };
        let line = |insn| info.location_of(insn).map(|l| l.line);
        assert_eq!(line(0), Some(3));
        assert_eq!(line(3), Some(3));
        assert_eq!(line(4), Some(5));
        assert_eq!(line(9), Some(5));
        let empty = ProgramInfo {
            lines: &[],
            ..info.clone()
        };
        assert_eq!(empty.location_of(0), None);
    }
}
