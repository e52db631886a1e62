//! One probe file through the whole pipeline: the public result types and [`compile_file`].

use std::path::{Path, PathBuf};

use crate::bpf::{layout, peephole, regalloc};
use crate::ctype::CType;
use crate::diag::{Diagnostic, Diagnostics, Span};
use crate::emit::{self, elf};
use crate::ir::lower::{self, Env, MapView};
use crate::kernel;
use crate::lua::load;

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
}

/// What a program attaches to, as declared in the probe file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProgramKind {
    /// `bpf.tracepoint('category/name', fn)`.
    Tracepoint { category: String, name: String },
    /// `bpf.socket([iface,] fn)` or `bpf(fn)`.
    SocketFilter { iface: Option<String> },
    /// `bpf.kprobe('[name:]function', fn, retprobe)`.
    Kprobe { function: String, ret: bool },
    /// `bpf.uprobe('path:symbol', fn, retprobe)`.
    Uprobe {
        path: String,
        symbol: String,
        ret: bool,
    },
}

impl ProgramKind {
    /// The ELF section name aya expects for this kind.
    pub fn section(&self, program: &str) -> String {
        match self {
            ProgramKind::Tracepoint { category, name } => format!("tracepoint/{category}/{name}"),
            ProgramKind::SocketFilter { .. } => format!("socket/{program}"),
            ProgramKind::Kprobe {
                function,
                ret: false,
            } => format!("kprobe/{function}"),
            ProgramKind::Kprobe {
                function,
                ret: true,
            } => format!("kretprobe/{function}"),
            ProgramKind::Uprobe { ret: false, .. } => format!("uprobe/{program}"),
            ProgramKind::Uprobe { ret: true, .. } => format!("uretprobe/{program}"),
        }
    }

    /// A short lowercase name of the kind (`tracepoint`, `socket_filter`, ...).
    pub fn kind_name(&self) -> &'static str {
        match self {
            ProgramKind::Tracepoint { .. } => "tracepoint",
            ProgramKind::SocketFilter { .. } => "socket_filter",
            ProgramKind::Kprobe { ret: false, .. } => "kprobe",
            ProgramKind::Kprobe { ret: true, .. } => "kretprobe",
            ProgramKind::Uprobe { ret: false, .. } => "uprobe",
            ProgramKind::Uprobe { ret: true, .. } => "uretprobe",
        }
    }
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
}

/// One map of a probe file.
#[derive(Clone, Debug)]
pub struct MapInfo {
    /// Its key in the returned table, or its upvalue's name.
    pub name: String,
    /// The `bpf.map` type string (`hash`, `array`, ...).
    pub kind: String,
    /// `BPF_MAP_TYPE_*` number.
    pub map_type: u32,
    /// Maximum number of entries.
    pub max_entries: u32,
    /// Key C type.
    pub key: CType,
    /// Value C type.
    pub value: CType,
    /// For perf event arrays and ring buffers: the type of the events programs write.
    pub event: Option<CType>,
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
}

/// `BPF_MAP_TYPE_*` for a `bpf.map` type string (include/uapi/linux/bpf.h).
pub fn map_type(kind: &str) -> Option<u32> {
    Some(match kind {
        "hash" => 1,
        "array" => 2,
        "prog_array" => 3,
        "perf_event_array" => 4,
        "percpu_hash" => 5,
        "percpu_array" => 6,
        "stack_trace" => 7,
        "cgroup_array" => 8,
        "lru_hash" => 9,
        "lru_percpu_hash" => 10,
        "lpm_trie" => 11,
        "devmap" => 14,
        "sockmap" => 15,
        "ringbuf" => 27,
        _ => return None,
    })
}

/// `BPF_F_NO_PREALLOC` (include/uapi/linux/bpf.h).
const BPF_F_NO_PREALLOC: u32 = 1;

/// The probe's name: the file stem.
pub fn probe_name(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "probe".to_string())
}

/// Compiles one probe file. All errors of the file are returned together.
pub fn compile_file(path: &Path, opts: &Options) -> Result<CompiledProbe, Diagnostics> {
    compile_source(path, &read_source(path)?, opts)
}

/// The text of a probe file; a read failure is a diagnostic about the file.
fn read_source(path: &Path) -> Result<String, Diagnostics> {
    std::fs::read_to_string(path).map_err(|e| {
        Diagnostics::one(Diagnostic::new(
            Span::new(path.display().to_string(), 0),
            format!("cannot read the probe file: {e}"),
        ))
    })
}

/// The LuaJIT bytecode of every program function of a probe file, as text (for `ljbpf dump
/// --bytecode`: what the compiler reads).
pub fn bytecode_listing(path: &Path) -> Result<String, Diagnostics> {
    let file = path.display().to_string();
    let source = read_source(path)?;
    let loaded = load::load(&file, &source)?;
    let mut out = String::new();
    for p in &loaded.programs {
        out.push_str(&format!("{}: ; {}\n", p.name, p.span));
        out.push_str(&p.proto.listing());
        out.push('\n');
    }
    Ok(out)
}

/// Compiles probe source text as if read from `path`.
pub fn compile_source(
    path: &Path,
    source: &str,
    opts: &Options,
) -> Result<CompiledProbe, Diagnostics> {
    let file = path.display().to_string();
    let loaded = load::load(&file, source)?;
    let mut errors = Vec::new();
    let mut inputs = vec![path.to_path_buf()];

    // Maps: C types, kinds, and LuaJIT's layout as a cross-check of ours.
    let mut views = Vec::new();
    for m in &loaded.maps {
        let parse = |what: &str, t: &str| {
            loaded.ctypes.parse_type(t).map_err(|e| {
                Diagnostic::new(
                    m.span.clone(),
                    format!("map `{}`: bad {what} type `{t}`: {}", m.name, e.message),
                )
            })
        };
        let (key, value) = match (parse("key", &m.key), parse("value", &m.value)) {
            (Ok(k), Ok(v)) => (k, v),
            (k, v) => {
                errors.extend(k.err());
                errors.extend(v.err());
                (CType::Void, CType::Void)
            }
        };
        // A stack trace map holds PERF_MAX_STACK_DEPTH (127) addresses per stack unless the
        // file says otherwise.
        let value = match (m.kind.as_str(), &value) {
            ("stack_trace", CType::Int { .. }) => CType::Array(
                Box::new(CType::Int {
                    size: 8,
                    signed: false,
                    is_char: false,
                }),
                127,
            ),
            _ => value,
        };
        let indexed = matches!(
            m.kind.as_str(),
            "array"
                | "percpu_array"
                | "prog_array"
                | "perf_event_array"
                | "cgroup_array"
                | "devmap"
                | "sockmap"
        );
        if indexed && key.size() != 4 {
            errors.push(Diagnostic::new(
                m.span.clone(),
                format!(
                    "map `{}`: {} map is indexed by 4-byte keys (uint32_t), not {}",
                    m.name,
                    crate::lua::load::with_article(&m.kind),
                    key.c_name()
                ),
            ));
        }
        if m.kind == "ringbuf" && (!m.max_entries.is_power_of_two() || m.max_entries < 4096) {
            errors.push(Diagnostic::new(
                m.span.clone(),
                format!(
                    "ring buffer `{}` needs a size (max_entries) that is a power of two of at least 4096 bytes, not {}",
                    m.name, m.max_entries
                ),
            ));
        }
        views.push(MapView {
            name: m.name.clone(),
            kind: m.kind.clone(),
            key,
            value,
        });
    }
    for l in &loaded.layouts {
        let Ok(ty) = loaded.ctypes.parse_type(&l.ctype) else {
            continue;
        };
        if ty.size() != l.size {
            errors.push(Diagnostic::new(
                Span::new(&file, 0),
                format!(
                    "layout of {} disagrees with LuaJIT: size {} vs ffi.sizeof {}",
                    l.ctype,
                    ty.size(),
                    l.size
                ),
            ));
        }
        for (f, off) in &l.offsets {
            if let Some(field) = ty.field(f) {
                if field.offset != *off {
                    errors.push(Diagnostic::new(
                        Span::new(&file, 0),
                        format!("layout of {} disagrees with LuaJIT: field {f} at {} vs ffi.offsetof {off}", l.ctype, field.offset),
                    ));
                }
            }
        }
    }
    // Only maps that have a name (returned or used) go into the object.
    let named: Vec<usize> = (0..loaded.maps.len())
        .filter(|&i| !loaded.maps[i].name.is_empty())
        .collect();
    let map_names: Vec<String> = loaded.maps.iter().map(|m| m.name.clone()).collect();

    let mut layouts = kernel::Layouts::new(opts.btf.as_deref(), opts.events_dir.as_deref());
    let mut programs = Vec::new();
    let mut elf_programs = Vec::new();
    let mut event_types: std::collections::BTreeMap<u32, CType> = std::collections::BTreeMap::new();
    let mut listing = String::new();
    for p in &loaded.programs {
        let tp = match &p.kind {
            ProgramKind::Tracepoint { category, name } => match layouts.format(category, name) {
                Ok(found) => {
                    if !inputs.contains(&found.input) {
                        inputs.push(found.input);
                    }
                    Some(found.format)
                }
                Err(e) => {
                    errors.push(Diagnostic::new(p.span.clone(), e));
                    continue;
                }
            },
            _ => None,
        };
        let env = Env {
            file: &file,
            maps: &views,
            ctypes: &loaded.ctypes,
            kind: &p.kind,
            tracepoint: tp.as_ref(),
        };
        let lowered = match lower::lower(&p.proto, &env) {
            Ok(l) => l,
            Err(e) => {
                errors.extend(e);
                continue;
            }
        };
        for (map, ty) in &lowered.events {
            match event_types.get(map) {
                Some(t) if t != ty => errors.push(Diagnostic::new(
                    p.span.clone(),
                    format!(
                        "program `{}` writes {} events to map `{}`, another program writes {}",
                        p.name,
                        ty.c_name(),
                        loaded.maps[*map as usize].name,
                        t.c_name()
                    ),
                )),
                _ => {
                    event_types.insert(*map, ty.clone());
                }
            }
        }
        if std::env::var_os("LJBPF_DEBUG_VCODE").is_some() {
            eprint!(
                "{}: virtual-register code\n{}",
                p.name,
                lowered.code.listing(&map_names)
            );
        }
        let mut alloc = regalloc::allocate(&lowered.code, lowered.stack_bytes);
        peephole::optimize(&mut alloc);
        if alloc.stack_bytes > lower::MAX_STACK {
            errors.push(
                Diagnostic::new(
                    p.span.clone(),
                    format!(
                    "program `{}` needs {} bytes of stack (with register spills); BPF allows {}",
                    p.name,
                    alloc.stack_bytes,
                    lower::MAX_STACK
                ),
                )
                .hint("use fewer or smaller ffi.new objects, or fewer live values"),
            );
            continue;
        }
        let laid = match layout::layout(&alloc, &map_names) {
            Ok(l) => l,
            Err(e) => {
                errors.push(Diagnostic::new(Span::new(&file, e.line), e.message));
                continue;
            }
        };
        const MAX_INSNS: usize = 1_000_000;
        if laid.raw.len() > MAX_INSNS {
            errors.push(Diagnostic::new(
                p.span.clone(),
                format!(
                    "program `{}` has {} instructions; the kernel allows {MAX_INSNS}",
                    p.name,
                    laid.raw.len()
                ),
            ));
            continue;
        }
        let section = p.kind.section(&p.name);
        emit::listing::program(&mut listing, &p.name, &section, &file, source, &laid);
        let code: Vec<u8> = laid.raw.iter().flat_map(|r| r.to_bytes()).collect();
        let mut lines: Vec<(u32, Span)> = Vec::new();
        for (slot, line) in laid.lines.iter().enumerate() {
            if lines.last().map(|(_, s)| s.line) != Some(*line) {
                lines.push((slot as u32, Span::new(&file, *line)));
            }
        }
        elf_programs.push(elf::ProgramSpec {
            name: p.name.clone(),
            section: section.clone(),
            code: code.clone(),
            map_relocs: laid
                .relocs
                .iter()
                .map(|(slot, m)| elf::MapReloc {
                    insn_index: *slot,
                    map: named
                        .iter()
                        .position(|&i| i == m.0 as usize)
                        .unwrap_or(usize::MAX),
                })
                .collect(),
        });
        programs.push(CompiledProgram {
            name: p.name.clone(),
            kind: p.kind.clone(),
            section,
            code,
            insn_count: laid.raw.len() as u32,
            stack_bytes: alloc.stack_bytes,
            lines,
        });
    }
    if programs.is_empty() && errors.is_empty() {
        errors.push(
            Diagnostic::new(Span::new(&file, 0), "the probe file declares no programs").hint(
                "return a table with at least one bpf.tracepoint/bpf.socket/bpf(...) program",
            ),
        );
    }
    if !errors.is_empty() {
        let mut d = Diagnostics(errors);
        d.normalize();
        return Err(d);
    }
    let maps: Vec<MapInfo> = named
        .iter()
        .map(|&i| {
            let m = &loaded.maps[i];
            MapInfo {
                name: m.name.clone(),
                kind: m.kind.clone(),
                map_type: map_type(&m.kind).unwrap_or(0),
                max_entries: m.max_entries,
                key: views[i].key.clone(),
                value: views[i].value.clone(),
                event: event_types.get(&(i as u32)).cloned(),
            }
        })
        .collect();
    let elf_spec = elf::ObjectSpec {
        license: "GPL".to_string(),
        maps: maps
            .iter()
            .map(|m| {
                // A ring buffer has no keys or values; its size is max_entries bytes.
                let (key_size, value_size) = match m.kind.as_str() {
                    "ringbuf" => (0, 0),
                    _ => (m.key.size(), m.value.size()),
                };
                elf::MapSpec {
                    name: m.name.clone(),
                    map_type: m.map_type,
                    key_size,
                    value_size,
                    max_entries: m.max_entries,
                    // The kernel creates LPM tries only without preallocation.
                    map_flags: if m.kind == "lpm_trie" {
                        BPF_F_NO_PREALLOC
                    } else {
                        0
                    },
                }
            })
            .collect(),
        programs: elf_programs,
    };
    let elf_bytes = elf::write_object(&elf_spec).map_err(|e| {
        Diagnostics::one(Diagnostic::new(
            Span::new(&file, 0),
            format!("internal error writing the ELF object: {e}"),
        ))
    })?;
    let name = probe_name(path);
    let mut probe = CompiledProbe {
        name: name.clone(),
        path: path.to_path_buf(),
        elf: elf_bytes,
        listing,
        bindings: String::new(),
        programs,
        maps,
        inputs,
    };
    probe.bindings = emit::rust::bindings(&probe, &format!("{name}.o"))
        .map_err(|e| Diagnostics::one(Diagnostic::new(Span::new(&file, 0), e)))?;
    Ok(probe)
}
