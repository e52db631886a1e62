//! What compiling a probe file produces: the result types every output writer and every user
//! of the compiler reads. They sit below the driver so that the writers need not import it.

use std::path::PathBuf;

use ljbpf_core::insn::Isa;
use ljbpf_core::map::MapKind;
use ljbpf_core::program::ProgramKind;
use ljbpf_core::reloc::FieldReloc;
use ljbpf_core::requires::Requirement;
use ljbpf_core::show::Show;

use crate::ctype::CType;
use crate::diag::Span;
use crate::mir::pipeline::{Pass, Snapshot};

/// Options that change how a probe file is compiled.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Where tracepoint `format` files are read (`<dir>/<category>/<name>/format`); `None` means
    /// `$LJBPF_TRACEFS_EVENTS`. See [`crate::kernel`] for the order of layout sources.
    pub events_dir: Option<PathBuf>,
    /// A raw BTF file (a copy of some kernel's `/sys/kernel/btf/vmlinux`) to take tracepoint
    /// layouts from; `None` means `$LJBPF_BTF`. When neither this nor `events_dir` is given,
    /// the running kernel's BTF is used, then tracefs.
    pub btf: Option<PathBuf>,
    /// Keep each program's code as it is after these back-end passes
    /// ([`CompiledProgram::snapshots`]; `ljbpf dump --after PASS`).
    pub snapshots_after: Vec<Pass>,
    /// The BPF instruction-set level to emit (default v3: every kernel from 5.1 loads it).
    pub isa: Isa,
}

/// One compiled program of a probe file.
#[derive(Clone, Debug)]
pub struct CompiledProgram {
    /// Its key in the returned table.
    pub name: String,
    /// What it attaches to.
    pub kind: ProgramKind,
    /// The ELF section it lives in.
    pub section: String,
    /// Raw little-endian BPF instructions (8 bytes per slot).
    pub code: Vec<u8>,
    /// Instruction slots (`LD_IMM64` counts 2).
    pub insn_count: u32,
    /// Bytes of stack used.
    pub stack_bytes: u32,
    /// `(first instruction slot, Lua line)` runs, sorted.
    pub lines: Vec<(u32, Span)>,
    /// Instructions the loader moves to the loading kernel's tracepoint layout.
    pub relocs: Vec<FieldReloc>,
    /// The code after the passes [`Options::snapshots_after`] names.
    pub snapshots: Vec<Snapshot>,
}

/// One map of a probe file.
#[derive(Clone, Debug)]
pub struct MapInfo {
    /// Its key in the returned table, or its upvalue's name.
    pub name: String,
    /// Its kind.
    pub kind: MapKind,
    /// Maximum number of entries.
    pub max_entries: u32,
    /// Key C type.
    pub key: CType,
    /// Value C type.
    pub value: CType,
    /// For perf event arrays and ring buffers: the type of the events programs write.
    pub event: Option<CType>,
    /// How `ljbpf run` shows it: the file's `{ show = ... }`, else the kind's default.
    pub show: Show,
}

/// Everything made from one probe file.
#[derive(Clone, Debug)]
pub struct CompiledProbe {
    /// The probe's name: the file stem (`probes/syscount.lua` → `syscount`).
    pub name: String,
    /// The probe file.
    pub path: PathBuf,
    /// The ELF relocatable object (EM_BPF).
    pub elf: Vec<u8>,
    /// The listing: kernel-syntax instructions interleaved with Lua source lines.
    pub listing: String,
    /// The Rust bindings module (formatted source).
    pub bindings: String,
    /// Programs in the order of the returned table's keys (sorted by name).
    pub programs: Vec<CompiledProgram>,
    /// Maps in declaration order.
    pub maps: Vec<MapInfo>,
    /// Every file the result depends on (the probe file, tracepoint formats).
    pub inputs: Vec<PathBuf>,
    /// The kernel features the probe uses, newest first (for explaining failed loads).
    pub requires: Vec<Requirement>,
}
