//! Stage 1: run the probe file once and collect its declarations: `evaluate` runs the top
//! level (in a child process, `isolate`), and this module turns what it read into checked
//! declarations: map kinds, program kinds, names, C types.

use crate::ctype::CTypes;
use crate::diag::{Diagnostic, Diagnostics, Span};
use crate::names;
use ljbpf_core::map::MapKind;
use ljbpf_core::program::{
    Direction, PerfEventSpec, ProgramClass, ProgramKind, Sample, PERF_TYPES,
};

use super::decode::{Const, Proto};
use super::evaluate::{Evaluated, RawField, RawProgram, Returned};
use super::isolate;

pub use super::evaluate::{with_article, TOP_LEVEL_MEMORY_LIMIT, TOP_LEVEL_TIME_LIMIT};

/// A `bpf.map(...)` declaration.
#[derive(Clone, Debug)]
pub struct MapDecl {
    /// Name in the bindings (table key, else upvalue name).
    pub name: String,
    /// Its kind.
    pub kind: MapKind,
    /// Maximum entries.
    pub max_entries: u32,
    /// Key C type as written.
    pub key: String,
    /// Value C type as written.
    pub value: String,
    /// How `ljbpf run` shows it (`{ show = '...' }`, checked by the driver); not in the code.
    pub show: Option<String>,
    /// Where it was declared.
    pub span: Span,
}

/// A program declaration with its decoded function.
#[derive(Clone, Debug)]
pub struct ProgramDecl {
    /// Its key in the returned table.
    pub name: String,
    /// What it attaches to.
    pub kind: ProgramKind,
    /// The program function's bytecode.
    pub proto: Proto,
    /// Where it was declared.
    pub span: Span,
}

/// What running a probe file declared.
#[derive(Debug)]
pub struct Loaded {
    /// Maps, in declaration order; `Const::Map(i)` indexes this.
    pub maps: Vec<MapDecl>,
    /// Programs, sorted by name.
    pub programs: Vec<ProgramDecl>,
    /// Every `ffi.cdef` of the file, parsed.
    pub ctypes: CTypes,
}

/// Runs `source` (the bytes of probe file `file`) and returns its declarations. What the top
/// level printed is shown on stderr, escaped, before any error.
pub fn load(file: &str, source: &[u8]) -> Result<Loaded, Diagnostics> {
    let outcome = isolate::evaluate(file, source);
    for p in &outcome.prints {
        eprintln!("{file}: print: {}", names::escape_bytes(p));
    }
    declare(file, outcome.result?)
}

/// The one place a program declaration (the class's section prefix the prelude tagged it with,
/// its target, return flag, direction and perf event) becomes a [`ProgramKind`]; `Err` says why
/// it cannot, maybe with a hint.
fn program_kind(p: &RawProgram) -> Result<ProgramKind, (String, Option<&'static str>)> {
    let class = ProgramClass::ALL
        .iter()
        .copied()
        .find(|c| c.section_prefix() == p.kind);
    // tc and cgroup skb hooks; the prelude checked the spelling.
    let direction = p
        .direction
        .as_deref()
        .and_then(Direction::parse)
        .unwrap_or(Direction::Ingress);
    Ok(match (class, p.target.clone()) {
        (Some(ProgramClass::Tracepoint), Some(t)) => {
            let (c, n) = t.split_once('/').unwrap_or((t.as_str(), ""));
            ProgramKind::Tracepoint {
                category: c.to_string().into(),
                name: n.to_string().into(),
            }
        }
        (Some(ProgramClass::SocketFilter), iface) => ProgramKind::SocketFilter {
            iface: iface.map(Into::into),
        },
        (Some(ProgramClass::Kprobe), Some(f)) => ProgramKind::Kprobe {
            function: f.into(),
            ret: p.ret,
        },
        (Some(ProgramClass::Uprobe), Some(t)) => {
            let (path, sym) = t.rsplit_once(':').unwrap_or((t.as_str(), ""));
            ProgramKind::Uprobe {
                path: path.to_string().into(),
                symbol: sym.to_string().into(),
                ret: p.ret,
            }
        }
        (Some(ProgramClass::Xdp), iface) => ProgramKind::Xdp {
            iface: iface.map(Into::into),
        },
        (Some(ProgramClass::Tc), iface) => ProgramKind::Tc {
            iface: iface.map(Into::into),
            direction,
        },
        (Some(ProgramClass::CgroupSkb), path) => ProgramKind::CgroupSkb {
            path: path.map(Into::into),
            direction,
        },
        (Some(ProgramClass::RawTracepoint), Some(n)) => ProgramKind::RawTracepoint { name: n.into() },
        (Some(ProgramClass::TpBtf), Some(n)) => ProgramKind::TpBtf { name: n.into() },
        (Some(c @ (ProgramClass::Fentry | ProgramClass::Fexit)), Some(f)) => ProgramKind::Fentry {
            function: f.into(),
            ret: c == ProgramClass::Fexit,
        },
        (Some(ProgramClass::PerfEvent), _) => match perf_event_spec(&p.perf) {
            Ok(event) => ProgramKind::PerfEvent { event },
            Err(e) => {
                return Err((
                    format!("bpf.perf_event: {e}"),
                    Some("e.g. bpf.perf_event({ type = 'software', config = 'cpu_clock', frequency = 99 }, fn)"),
                ))
            }
        },
        _ => return Err((format!("unknown program kind {}", p.kind), None)),
    })
}

/// Checks what the top level declared: C types, map kinds, program kinds, names.
fn declare(file: &str, ev: Evaluated) -> Result<Loaded, Diagnostics> {
    let at = |line: u32, msg: String| Diagnostic::new(Span::new(file, line), msg);
    let mut errors = ev.errors;

    // The cdefs the evaluator accepted, parsed again into this process's registry.
    let mut ctypes = CTypes::default();
    for (src, line) in &ev.cdefs {
        if let Err(e) = ctypes.cdef(src) {
            errors.push(at(
                line + e.line.saturating_sub(1),
                format!("ffi.cdef: {}", e.message),
            ));
        }
    }

    let mut maps: Vec<MapDecl> = Vec::new();
    for m in ev.maps {
        let Some(kind) = MapKind::from_name(&m.kind) else {
            return Err(at(
                m.line,
                format!("internal error: unknown map kind {}", m.kind),
            )
            .into());
        };
        maps.push(MapDecl {
            name: String::new(),
            kind,
            max_entries: m.max_entries,
            key: m.key,
            value: m.value,
            show: m.show,
            span: Span::new(file, m.line),
        });
    }

    let mut programs = Vec::new();
    for (name, r) in ev.returned {
        let (line, what) = match &r {
            Returned::Map { line, .. } => (*line, "map"),
            Returned::Program(p) => (p.line, "program"),
        };
        if name.is_empty() {
            // An empty key would otherwise read as "not returned" and be named after an upvalue.
            let r = names::rust_ident(&name).expect_err("empty names are refused");
            errors.push(
                at(
                    line,
                    format!("{what} name `` (the returned key) {}", r.reason),
                )
                .hint(r.hint),
            );
            continue;
        }
        match r {
            Returned::Map { id, .. } => {
                if let Some(m) = maps.get_mut(id as usize) {
                    if m.name.is_empty() {
                        m.name = name;
                    }
                }
            }
            Returned::Program(p) => match program_kind(&p) {
                Ok(kind) => programs.push(ProgramDecl {
                    name,
                    kind,
                    proto: p.proto,
                    span: Span::new(file, p.line),
                }),
                Err((e, hint)) => {
                    let d = at(p.line, e);
                    errors.push(match hint {
                        Some(h) => d.hint(h),
                        None => d,
                    })
                }
            },
        }
    }

    // Maps not returned are named after the upvalue that holds them.
    for p in &programs {
        for (uv_name, c) in &p.proto.upvalues {
            if let Const::Map(id) = c {
                if let Some(m) = maps.get_mut(*id as usize) {
                    if m.name.is_empty() {
                        m.name = uv_name.clone();
                    }
                }
            }
        }
    }
    // Names become ELF symbols, kernel object names and Rust identifiers: one check decides
    // them all. In line order, so of two colliding names the later line is the one refused.
    let mut decls: Vec<(names::Decl, &Span)> = maps
        .iter()
        .filter(|m| !m.name.is_empty())
        .map(|m| (names::Kind::Map, &m.name, &m.span))
        .chain(
            programs
                .iter()
                .map(|p| (names::Kind::Program, &p.name, &p.span)),
        )
        .map(|(kind, name, span)| {
            (
                names::Decl {
                    kind,
                    name,
                    at: span.to_string(),
                },
                span,
            )
        })
        .collect();
    decls.sort_by_key(|(_, span)| span.line);
    let plain: Vec<names::Decl> = decls.iter().map(|(d, _)| d.clone()).collect();
    for (i, msg, hint) in names::check_decls(&plain) {
        errors.push(Diagnostic::new(decls[i].1.clone(), msg).hint(hint));
    }

    if errors.is_empty() {
        Ok(Loaded {
            maps,
            programs,
            ctypes,
        })
    } else {
        let mut d = Diagnostics(errors);
        d.normalize();
        Err(d)
    }
}

/// The event of a `bpf.perf_event{...}` declaration from its `type`, `config`, `frequency` and
/// `period` fields: `type` and `config` by name (from ljbpf-core's tables) or number, and
/// `frequency` or `period` (default: 99 Hz, like bcc's profile; a frequency is what makes
/// samples comparable across machines).
fn perf_event_spec(fields: &[RawField; 4]) -> Result<PerfEventSpec, String> {
    let [perf_type, perf_config, frequency, period] = fields;
    let number = |k: &str, v: &RawField| -> Result<Option<u64>, String> {
        match v {
            RawField::Nil => Ok(None),
            RawField::Number(n) if *n >= 0.0 && n.fract() == 0.0 && *n < 1.8e19 => {
                Ok(Some(*n as u64))
            }
            other => Err(format!(
                "`{k}` must be a non-negative integer, got {}",
                with_article(other.lua_type())
            )),
        }
    };
    let name_or_number = |k: &str, v: &RawField, lookup: &dyn Fn(&str) -> Option<u64>| match v {
        RawField::String(s) => lookup(s).map(Some).ok_or_else(|| match k {
            "type" => format!(
                "unknown type `{s}`; the types are: {}",
                PERF_TYPES
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            _ => format!("unknown {k} `{s}`"),
        }),
        other => number(k, other),
    };
    let perf_type = name_or_number("type", perf_type, &|s| {
        PerfEventSpec::type_named(s).map(u64::from)
    })?
    .unwrap_or(u64::from(ljbpf_core::program::PERF_TYPE_SOFTWARE));
    let perf_type = u32::try_from(perf_type).map_err(|_| "`type` is too large".to_string())?;
    let config = name_or_number("config", perf_config, &|s| {
        PerfEventSpec::config_named(perf_type, s)
    })
    .map_err(
        |e| match PerfEventSpec::config_names(perf_type).as_slice() {
            [] => format!("{e} (events of this type are given by number)"),
            names => format!("{e}; the names are: {}", names.join(", ")),
        },
    )?
    .unwrap_or(0);
    let sample = match (number("frequency", frequency)?, number("period", period)?) {
        (Some(_), Some(_)) => return Err("give `frequency` or `period`, not both".into()),
        (Some(0), None) | (None, Some(0)) => {
            return Err("`frequency` and `period` must be at least 1".into())
        }
        (Some(f), None) => Sample::Frequency(f),
        (None, Some(p)) => Sample::Period(p),
        (None, None) => Sample::Frequency(99),
    };
    Ok(PerfEventSpec {
        perf_type,
        config,
        sample,
    })
}
