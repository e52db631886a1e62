//! The driver: one probe file through the whole pipeline (load, lower, back-end passes, emit).

use std::collections::BTreeMap;
use std::path::Path;

use ljbpf_core::elf;
use ljbpf_core::helper::Helper;
use ljbpf_core::insn::Insn;
use ljbpf_core::map::{Keys, MapKind, PERF_MAX_STACK_DEPTH};
use ljbpf_core::program::ProgramKind;
use ljbpf_core::requires::Requirement;
use ljbpf_core::show::Show;

use crate::artifact::{CompiledProbe, CompiledProgram, MapInfo, Options};
use crate::ctype::CType;
use crate::diag::{Diagnostic, Diagnostics, Span};
use crate::emit;
use crate::kernel;
use crate::lower::{self, Env, MapView};
use crate::lua::load::{self, Loaded, ProgramDecl};
use crate::mir::pipeline;
use crate::mir::Reloc;

/// The most instructions the kernel accepts in one program (BPF_COMPLEXITY_LIMIT_INSNS).
const MAX_INSNS: usize = 1_000_000;

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

/// The bytes of a probe file (Lua source is bytes: a comment or string need not be UTF-8); a
/// read failure is a diagnostic about the file.
fn read_source(path: &Path) -> Result<Vec<u8>, Diagnostics> {
    std::fs::read(path).map_err(|e| {
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

/// Compiles probe source (text or bytes) as if read from `path`.
pub fn compile_source(
    path: &Path,
    source: impl AsRef<[u8]>,
    opts: &Options,
) -> Result<CompiledProbe, Diagnostics> {
    let file = path.display().to_string();
    let bytes = source.as_ref();
    let loaded = load::load(&file, bytes)?;
    // Listing and BTF line records quote source lines as text; the program's strings come
    // from LuaJIT's constants, as bytes, not from this.
    let text = String::from_utf8_lossy(bytes);
    let source: &str = &text;
    let mut errors = Vec::new();
    let views = map_views(&loaded, &mut errors);
    let shows = map_shows(&loaded, &mut errors);
    // Only maps that have a name (returned or used) go into the object.
    let named: Vec<usize> = (0..loaded.maps.len())
        .filter(|&i| !loaded.maps[i].name.is_empty())
        .collect();
    let mut out = Programs {
        file: &file,
        source,
        opts,
        loaded: &loaded,
        views: &views,
        map_names: loaded.maps.iter().map(|m| m.name.clone()).collect(),
        map_sizes: views
            .iter()
            .map(|v| (v.key.size(), v.value.size()))
            .collect(),
        layouts: kernel::Layouts::new(opts.btf.as_deref(), opts.events_dir.as_deref()),
        inputs: vec![path.to_path_buf()],
        programs: Vec::new(),
        elf_programs: Vec::new(),
        btf: emit::btf::Types::new(),
        event_types: BTreeMap::new(),
        listing: String::new(),
        helpers: BTreeMap::new(),
    };
    for p in &loaded.programs {
        if let Err(e) = out.compile(p, &named) {
            errors.extend(e);
        }
    }
    if out.programs.is_empty() && errors.is_empty() {
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
                kind: m.kind,
                max_entries: m.max_entries,
                key: views[i].key.clone(),
                value: views[i].value.clone(),
                event: out.event_types.get(&(i as u32)).cloned(),
                show: shows[i],
            }
        })
        .collect();
    let elf_bytes = write_object(&maps, out.elf_programs, out.btf).map_err(|e| {
        Diagnostics::one(Diagnostic::new(
            Span::new(&file, 0),
            format!("internal error writing the ELF object: {e}"),
        ))
    })?;
    let requires = requirements(opts, &out.programs, &maps, out.helpers.values());
    let name = probe_name(path);
    let mut probe = CompiledProbe {
        name: name.clone(),
        path: path.to_path_buf(),
        elf: elf_bytes,
        listing: out.listing,
        bindings: String::new(),
        programs: out.programs,
        maps,
        inputs: out.inputs,
        requires,
    };
    probe.bindings = emit::rust::bindings(&probe, &format!("{name}.o")).map_err(|e| {
        // A map's types are refused at the map's line.
        let span = e
            .map
            .and_then(|i| named.get(i))
            .map_or_else(|| Span::new(&file, 0), |&i| loaded.maps[i].span.clone());
        let mut d = Diagnostic::new(span, e.message);
        d.hint = e.hint;
        Diagnostics::one(d)
    })?;
    Ok(probe)
}

/// The kernel features a probe uses, newest first, each once.
fn requirements<'a>(
    opts: &Options,
    programs: &[CompiledProgram],
    maps: &[MapInfo],
    helpers: impl Iterator<Item = &'a Helper>,
) -> Vec<Requirement> {
    let mut all: Vec<(String, &'static str)> = vec![(
        format!("BPF instruction set {} (--isa)", opts.isa),
        opts.isa.since(),
    )];
    for p in programs {
        let class = p.kind.class();
        all.push((format!("{} programs", class.name()), class.since()));
    }
    for m in maps {
        all.push((format!("{} maps (`{}`)", m.kind, m.name), m.kind.since()));
    }
    for h in helpers {
        all.push((format!("helper {}", h.name()), h.since()));
    }
    let mut reqs: Vec<Requirement> = all
        .into_iter()
        .map(|(what, since)| Requirement {
            what: what.into(),
            since: since.into(),
        })
        .collect();
    reqs.sort_by(|a, b| {
        let v = |r: &Requirement| ljbpf_core::requires::version(&r.since);
        v(b).cmp(&v(a)).then_with(|| a.what.cmp(&b.what))
    });
    reqs.dedup();
    reqs
}

/// The maps as lowering sees them (C types parsed), checking what the kernel requires of each
/// kind.
/// How `ljbpf run` shows each map: the file's `show` option, which must name a way that fits
/// the map's kind, else the kind's default.
fn map_shows(loaded: &Loaded, errors: &mut Vec<Diagnostic>) -> Vec<Show> {
    let mut shows = Vec::new();
    for m in &loaded.maps {
        let default = Show::default_for(m.kind);
        let Some(word) = &m.show else {
            shows.push(default);
            continue;
        };
        let fitting: Vec<String> = Show::ALL
            .iter()
            .filter(|s| s.fits(m.kind))
            .map(|s| format!("'{s}'"))
            .collect();
        let hint = format!(
            "{} map can be shown as {} (see docs/language.md, `ljbpf run`)",
            load::with_article(m.kind.name()),
            fitting.join(", ")
        );
        match Show::from_name(word) {
            Some(show) if show.fits(m.kind) => shows.push(show),
            Some(show) => {
                errors.push(
                    Diagnostic::new(
                        m.span.clone(),
                        format!(
                            "map `{}`: show = '{show}' does not fit {} map",
                            m.name,
                            load::with_article(m.kind.name())
                        ),
                    )
                    .hint(hint),
                );
                shows.push(default);
            }
            None => {
                let names = Show::ALL.iter().map(|s| s.name().to_owned()).collect();
                let near = crate::diag::closest(names, word);
                let message = match near.first() {
                    Some(near) => format!(
                        "map `{}`: unknown show = '{word}' (did you mean '{near}'?)",
                        m.name
                    ),
                    None => format!("map `{}`: unknown show = '{word}'", m.name),
                };
                errors.push(Diagnostic::new(m.span.clone(), message).hint(hint));
                shows.push(default);
            }
        }
    }
    shows
}

fn map_views(loaded: &Loaded, errors: &mut Vec<Diagnostic>) -> Vec<MapView> {
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
        // A stack trace map holds PERF_MAX_STACK_DEPTH addresses per stack unless the file says
        // otherwise.
        let value = match (m.kind, &value) {
            (MapKind::StackTrace, CType::Int { .. }) => CType::Array(
                Box::new(CType::Int {
                    size: 8,
                    signed: false,
                    is_char: false,
                }),
                PERF_MAX_STACK_DEPTH,
            ),
            _ => value,
        };
        if m.kind.keys() == Keys::Index && key.size() != 4 {
            errors.push(Diagnostic::new(
                m.span.clone(),
                format!(
                    "map `{}`: {} map is indexed by 4-byte keys (uint32_t), not {}",
                    m.name,
                    load::with_article(m.kind.name()),
                    key.c_name()
                ),
            ));
        }
        if m.max_entries > m.kind.max_entries() {
            errors.push(
                Diagnostic::new(
                    m.span.clone(),
                    format!(
                        "map `{}`: the kernel refuses {} map with more than {} entries (E2BIG), not {}",
                        m.name,
                        load::with_article(m.kind.name()),
                        m.kind.max_entries(),
                        m.max_entries
                    ),
                )
                .hint("give bpf.map a smaller max_entries"),
            );
        }
        if m.kind == MapKind::Ringbuf && (!m.max_entries.is_power_of_two() || m.max_entries < 4096)
        {
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
            kind: m.kind,
            key,
            value,
        });
    }
    views
}

/// The programs of one file as they are compiled, and what they add to the file's outputs.
struct Programs<'a> {
    file: &'a str,
    source: &'a str,
    opts: &'a Options,
    loaded: &'a Loaded,
    views: &'a [MapView],
    map_names: Vec<String>,
    /// Key and value size of each map, by map id (what the frame pass needs to know).
    map_sizes: Vec<(u32, u32)>,
    layouts: kernel::Layouts,
    inputs: Vec<std::path::PathBuf>,
    programs: Vec<CompiledProgram>,
    elf_programs: Vec<elf::ProgramSpec>,
    btf: emit::btf::Types,
    event_types: BTreeMap<u32, CType>,
    listing: String,
    /// Helpers the programs call, by id.
    helpers: BTreeMap<u32, Helper>,
}

impl Programs<'_> {
    /// Lowers one program, runs the back end, and adds it to the outputs.
    fn compile(&mut self, p: &ProgramDecl, named: &[usize]) -> Result<(), Vec<Diagnostic>> {
        let file = self.file;
        let one = |span: Span, msg: String| vec![Diagnostic::new(span, msg)];
        let tp = match &p.kind {
            ProgramKind::Tracepoint { category, name } => {
                let found = self
                    .layouts
                    .format(category, name)
                    .map_err(|e| vec![Diagnostic::new(p.span.clone(), e)])?;
                if !self.inputs.contains(&found.input) {
                    self.inputs.push(found.input);
                }
                Some(found.format)
            }
            _ => None,
        };
        // BTF-typed kinds read their arguments (and the structs behind pointer arguments) from
        // the kernel's BTF.
        let btf_target = match &p.kind {
            ProgramKind::TpBtf { name } => Some((name.as_ref(), None)),
            ProgramKind::Fentry { function, ret } => Some((function.as_ref(), Some(*ret))),
            _ => None,
        };
        let (kernel_btf, args) = match btf_target {
            Some((target, fentry)) => {
                let at = |e: String| vec![Diagnostic::new(p.span.clone(), e)];
                let (events, input) = self.layouts.btf().map_err(at)?;
                if !self.inputs.contains(&input) {
                    self.inputs.push(input);
                }
                let args = match fentry {
                    None => kernel::funcs::tracepoint_args(events, target),
                    Some(ret) => kernel::funcs::function_args(events.btf(), target, ret),
                }
                .map_err(at)?;
                (Some(events.btf()), Some(args))
            }
            None => (None, None),
        };
        let env = Env {
            file,
            maps: self.views,
            ctypes: &self.loaded.ctypes,
            kind: &p.kind,
            tracepoint: tp.as_ref(),
            args: args.as_ref(),
            kernel_btf,
        };
        let lowered = lower::lower(&p.proto, &env)?;
        for (map, ty) in &lowered.events {
            match self.event_types.get(map) {
                Some(t) if t != ty => {
                    return Err(one(
                        p.span.clone(),
                        format!(
                            "program `{}` writes {} events to map `{}`, another program writes {}",
                            p.name,
                            ty.c_name(),
                            self.loaded.maps[*map as usize].name,
                            t.c_name()
                        ),
                    ))
                }
                _ => {
                    self.event_types.insert(*map, ty.clone());
                }
            }
        }
        let mut snapshots = Vec::new();
        let laid = pipeline::run(
            lowered.code,
            self.opts.isa,
            p.kind.class().return_bits(),
            &self.opts.snapshots_after,
            &self.map_names,
            &self.map_sizes,
            &mut snapshots,
        )
        .map_err(|e| one(Span::new(file, e.line), e.message))?;
        if laid.stack_bytes > lower::MAX_STACK {
            return Err(vec![Diagnostic::new(
                p.span.clone(),
                format!(
                    "program `{}` needs {} bytes of stack (with register spills); BPF allows {}",
                    p.name,
                    laid.stack_bytes,
                    lower::MAX_STACK
                ),
            )
            .hint("use fewer or smaller ffi.new objects, or fewer live values")]);
        }
        if laid.raw.len() > MAX_INSNS {
            return Err(one(
                p.span.clone(),
                format!(
                    "program `{}` has {} instructions; the kernel allows {MAX_INSNS}",
                    p.name,
                    laid.raw.len()
                ),
            ));
        }
        let section = p.kind.section();
        emit::listing::program(
            &mut self.listing,
            &p.name,
            &section,
            file,
            self.source,
            &laid,
            &self.map_names,
        );
        for p in &laid.insns {
            if let Insn::Call { helper } = p.insn {
                self.helpers.insert(helper.id(), helper);
            }
        }
        let code: Vec<u8> = laid.raw.iter().flat_map(|r| r.to_bytes()).collect();
        let lines = laid
            .line_runs()
            .into_iter()
            .map(|(slot, line)| (slot, Span::new(file, line)))
            .collect();
        let func = self.btf.program(&p.name, p.kind.class().context());
        let mut core_relos = Vec::new();
        for (slot, r) in laid.kernel_field_relocs() {
            if let Reloc::KernelField {
                root,
                is_union,
                size,
                member,
                offset,
                ty,
            } = r
            {
                let type_id = self
                    .btf
                    .kernel_member(root, *is_union, *size, member, *offset, ty);
                core_relos.push(elf::CoreReloSpec {
                    insn_index: slot,
                    type_id,
                    access: "0:0".to_string(),
                });
            }
        }
        self.elf_programs.push(elf::ProgramSpec {
            core_relos,
            name: p.name.clone(),
            section: section.clone(),
            code: code.clone(),
            func: Some(func),
            lines: line_records(file, self.source, &code, &laid.line_runs(), p.span.line),
            map_relocs: laid
                .map_relocs()
                .map(|(slot, m)| elf::MapReloc {
                    insn_index: slot,
                    map: named
                        .iter()
                        .position(|&i| i == m.0 as usize)
                        .unwrap_or(usize::MAX),
                })
                .collect(),
        });
        self.programs.push(CompiledProgram {
            name: p.name.clone(),
            kind: p.kind.clone(),
            section,
            code,
            insn_count: laid.raw.len() as u32,
            stack_bytes: laid.stack_bytes,
            lines,
            relocs: laid.field_relocs(),
            snapshots,
        });
        Ok(())
    }
}

/// The `.BTF.ext` line records of a program: one per `(first slot, Lua line)` run, with the
/// line's text, as the kernel wants them (`check_btf_line`, kernel/bpf/verifier.c): strictly
/// increasing, the first at instruction 0 (a run that does not start there gets the
/// declaration's line), none on the second half of an `LD_IMM64` (its opcode is 0).
fn line_records(
    file: &str,
    source: &str,
    code: &[u8],
    runs: &[(u32, u32)],
    decl_line: u32,
) -> Vec<elf::LineSpec> {
    let lines: Vec<&str> = source.lines().collect();
    let slots = code.len() / 8;
    let mut second_halves = vec![false; slots];
    let mut slot = 0;
    while slot < slots {
        // BPF_LD | BPF_IMM | BPF_DW takes two slots.
        if code[slot * 8] == 0x18 && slot + 1 < slots {
            second_halves[slot + 1] = true;
            slot += 2;
        } else {
            slot += 1;
        }
    }
    let mut out: Vec<elf::LineSpec> = Vec::new();
    let first_line = runs.first().map_or(decl_line, |&(_, line)| line);
    let start = runs.first().is_none_or(|&(slot, _)| slot != 0);
    let runs = start
        .then_some((0, first_line))
        .into_iter()
        .chain(runs.iter().copied());
    for (slot, line) in runs {
        let slot = slot as usize;
        if slot >= slots || second_halves[slot] || out.last().is_some_and(|l| l.insn_index >= slot)
        {
            continue;
        }
        let text = (line as usize)
            .checked_sub(1)
            .and_then(|i| lines.get(i))
            .map_or("", |l| l.trim_end());
        out.push(elf::LineSpec {
            insn_index: slot,
            file: file.to_string(),
            line,
            // BTF strings end at a NUL, so one inside a line (a comment may hold any byte) is
            // written as `\0`.
            text: text.replace('\0', "\\0"),
        });
    }
    out
}

/// The ELF object of a file's maps and programs.
fn write_object(
    maps: &[MapInfo],
    programs: Vec<elf::ProgramSpec>,
    mut types: emit::btf::Types,
) -> Result<Vec<u8>, elf::ElfError> {
    let maps = maps
        .iter()
        .map(|m| {
            // A ring buffer has no keys or values; its size is max_entries bytes.
            let (key_size, value_size) = match m.kind.keys() {
                Keys::None => (0, 0),
                Keys::Any | Keys::Index => (m.key.size(), m.value.size()),
            };
            let (key_type, value_type) = types.map(m.kind, &m.key, &m.value);
            elf::MapSpec {
                name: m.name.clone(),
                map_type: m.kind.map_type(),
                key_size,
                value_size,
                max_entries: m.max_entries,
                map_flags: m.kind.flags(),
                key_type,
                value_type,
            }
        })
        .collect();
    let spec = elf::ObjectSpec {
        license: "GPL".to_string(),
        maps,
        programs,
        btf: types.into_btf(),
    };
    elf::write_object(&spec)
}
