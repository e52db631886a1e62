//! Stage 1: run the probe file once in a sandboxed LuaJIT state and collect its declarations.

use std::time::{Duration, Instant};

use mlua::{HookTriggers, Lua, Table, Value, VmState};

use crate::ctype::CTypes;
use crate::diag::{Diagnostic, Diagnostics, Span};
use crate::names;
use ljbpf_core::map::MapKind;
use ljbpf_core::program::{
    Direction, PerfEventSpec, ProgramClass, ProgramKind, Sample, PERF_TYPES,
};

use super::bc::LUAJIT_VERSION;
use super::decode::{Const, Proto};

/// How long the top level of a probe file may run.
pub const TOP_LEVEL_TIME_LIMIT: Duration = Duration::from_secs(5);

/// How much memory the build-time Lua state may use.
pub const TOP_LEVEL_MEMORY_LIMIT: usize = 1 << 30;

const PRELUDE: &str = include_str!("prelude.lua");

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
    /// `ffi.sizeof`/`ffi.offsetof` answers from LuaJIT for the C types named in `layout_queries`.
    pub layouts: Vec<Layout>,
}

/// LuaJIT's own layout of one C type, to check ours against.
#[derive(Clone, Debug)]
pub struct Layout {
    /// The C type name.
    pub ctype: String,
    /// `ffi.sizeof`.
    pub size: u32,
    /// `(field, ffi.offsetof)` for each top-level field we know of.
    pub offsets: Vec<(String, u32)>,
}

/// Lua's name for a value's type (mlua says "integer" for integral numbers).
fn lua_type(v: &Value) -> &'static str {
    match v {
        Value::Integer(_) | Value::Number(_) => "number",
        other => other.type_name(),
    }
}

/// `a number`, `an integer`; `nil` stays `nil`.
pub fn with_article(word: &str) -> String {
    if word == "nil" {
        return "nil".to_string();
    }
    let vowel = word.starts_with(['a', 'e', 'i', 'o', 'u']);
    format!("{} {word}", if vowel { "an" } else { "a" })
}

fn lua_err(file: &str, e: &mlua::Error) -> Diagnostic {
    if let mlua::Error::MemoryError(_) = e {
        return Diagnostic::new(
            Span::new(file, 0),
            format!(
                "the top level of the probe file used more than {} MiB of memory",
                TOP_LEVEL_MEMORY_LIMIT >> 20
            ),
        )
        .hint("probe files run inside cargo build; build large tables and strings lazily or not at all");
    }
    // Lua messages look like `file:line: message` followed by a traceback.
    let text = match e {
        mlua::Error::CallbackError { cause, .. } => cause.to_string(),
        other => other.to_string(),
    };
    let first = text.lines().next().unwrap_or("").trim();
    let first = first.strip_prefix("runtime error: ").unwrap_or(first);
    let first = first.strip_prefix("syntax error: ").unwrap_or(first);
    if let Some(rest) = first.strip_prefix(file) {
        if let Some(rest) = rest.strip_prefix(':') {
            if let Some((line, msg)) = rest.split_once(':') {
                if let Ok(line) = line.trim().parse::<u32>() {
                    return Diagnostic::new(Span::new(file, line), msg.trim().to_string());
                }
            }
        }
    }
    Diagnostic::new(Span::new(file, 0), first.to_string())
}

/// Runs `source` (the bytes of probe file `file`) and returns its declarations.
pub fn load(file: &str, source: &[u8]) -> Result<Loaded, Diagnostics> {
    let at = |line: u32, msg: String| Diagnostic::new(Span::new(file, line), msg);
    let internal = |e: mlua::Error| {
        at(
            0,
            format!("internal error in the build-time Lua state: {e}"),
        )
    };
    // SAFETY: the probe needs ffi (ctypes) and the prelude needs jit.util/debug; the prelude
    // removes io, os, debug, ffi.C, ffi.load and C module loaders before user code runs.
    let lua = unsafe { Lua::unsafe_new() };
    let globals = lua.globals();
    let version: String = globals
        .get::<Table>("jit")
        .and_then(|j| j.get("version"))
        .map_err(internal)?;
    if version != LUAJIT_VERSION {
        return Err(at(
            0,
            format!(
                "ljbpf's bytecode table mirrors {LUAJIT_VERSION}, but the build uses {version}"
            ),
        )
        .hint("build with the pinned luajit-src (=210.7.4) from the workspace Cargo.lock")
        .into());
    }
    // The map kinds `bpf.map` accepts come from the one table of them.
    let kinds = lua.create_table().map_err(internal)?;
    for k in MapKind::ALL {
        kinds.set(k.name(), true).map_err(internal)?;
    }
    globals.set("__ljbpf_map_kinds", kinds).map_err(internal)?;
    // Top-level `print` goes to stderr, escaped, never to stdout (see the prelude).
    let print_file = file.to_string();
    let sink = lua
        .create_function(move |_, text: mlua::LuaString| {
            eprintln!(
                "{print_file}: print: {}",
                crate::names::escape_bytes(&text.as_bytes())
            );
            Ok(())
        })
        .map_err(internal)?;
    globals.set("__ljbpf_print", sink).map_err(internal)?;
    lua.load(PRELUDE)
        .set_name("=ljbpf-prelude")
        .exec()
        .map_err(internal)?;
    let state: Table = globals.get("__ljbpf").map_err(internal)?;
    globals.set("__ljbpf", Value::Nil).map_err(internal)?;

    // A probe file that allocates without bound fails instead of exhausting the build host.
    if lua.set_memory_limit(TOP_LEVEL_MEMORY_LIMIT).is_err() {
        return Err(at(
            0,
            "internal error: the build-time Lua state cannot limit its memory".into(),
        )
        .into());
    }
    let start = Instant::now();
    let hook_file = file.to_string();
    lua.set_hook(
        HookTriggers::new().every_nth_instruction(10_000),
                move |_, debug| {
            if start.elapsed() > TOP_LEVEL_TIME_LIMIT {
                let line = debug.current_line().unwrap_or(0);
                Err(mlua::Error::runtime(format!(
                    "{hook_file}:{line}: the top level of the probe file ran for more than {} s here (an endless loop?)",
                    TOP_LEVEL_TIME_LIMIT.as_secs()
                )))
            } else {
                Ok(VmState::Continue)
            }
        },
    )
    .map_err(internal)?;
    let chunk = lua
        .load(source)
        .set_name(format!("@{file}"))
        .set_mode(mlua::chunk::ChunkMode::Text);
    // `call`, not `eval`: eval would first try the text as an expression (`return <text>`).
    let ret = chunk.into_function().and_then(|f| f.call::<Value>(()));
    lua.remove_hook();
    let ret = ret.map_err(|e| lua_err(file, &e))?;
    let Value::Table(ret) = ret else {
        return Err(at(
            0,
            format!(
                "the probe file must return a table of maps and programs, it returned {}",
                with_article(lua_type(&ret))
            ),
        )
        .hint("end the file with `return { name = bpf.map(...), prog = bpf.tracepoint(...) }`")
        .into());
    };
    collect(&lua, file, &state, &ret)
}

fn collect(lua: &Lua, file: &str, state: &Table, ret: &Table) -> Result<Loaded, Diagnostics> {
    let at = |line: u32, msg: String| Diagnostic::new(Span::new(file, line), msg);
    let internal = |e: mlua::Error| at(0, format!("internal error reading declarations: {e}"));
    let mut errors = Vec::new();

    // ffi.cdef texts → our C type registry.
    let mut ctypes = CTypes::default();
    let cdefs: Table = state.get("cdefs").map_err(internal)?;
    for cdef in cdefs.sequence_values::<Table>() {
        let cdef = cdef.map_err(internal)?;
        // Probe files are bytes: a non-UTF-8 byte in a declaration becomes U+FFFD here, which
        // no C identifier accepts, so it is an error at its line rather than an internal one.
        let src = cdef
            .get::<mlua::LuaString>("src")
            .map_err(internal)?
            .to_string_lossy();
        let line: u32 = cdef.get("line").map_err(internal)?;
        if let Err(e) = ctypes.cdef(&src) {
            errors.push(at(
                line + e.line.saturating_sub(1),
                format!("ffi.cdef: {}", e.message),
            ));
        }
    }

    // Maps, by id (1-based in Lua).
    let maps_t: Table = state.get("maps").map_err(internal)?;
    let mut maps: Vec<MapDecl> = Vec::new();
    for m in maps_t.sequence_values::<Table>() {
        let m = m.map_err(internal)?;
        let kind: String = m.get("kind").map_err(internal)?;
        let Some(kind) = MapKind::from_name(&kind) else {
            return Err(at(0, format!("internal error: unknown map kind {kind}")).into());
        };
        maps.push(MapDecl {
            name: String::new(),
            kind,
            max_entries: m.get::<f64>("max_entries").map_err(internal)? as u32,
            key: m
                .get::<mlua::LuaString>("key")
                .map_err(internal)?
                .to_string_lossy(),
            value: m
                .get::<mlua::LuaString>("val")
                .map_err(internal)?
                .to_string_lossy(),
            show: m
                .get::<Option<mlua::LuaString>>("show")
                .map_err(internal)?
                .map(|s| s.to_string_lossy()),
            span: Span::new(file, m.get("line").map_err(internal)?),
        });
    }

    // The returned table: sorted keys, deterministic. Only the prelude's private copies of
    // declarations are read (raw, so no metamethod of the probe file runs here, after the time
    // limit's hook is gone): a made-up table that looks like a declaration is not one.
    let genuine: Table = state.get("genuine").map_err(internal)?;
    let not_decl_hint = "return only values made by bpf.map, bpf.tracepoint, bpf.socket, bpf(...)";
    let mut entries: Vec<(String, Table)> = Vec::new();
    for pair in ret.pairs::<Value, Value>() {
        let (k, v) = pair.map_err(internal)?;
        let Value::String(k) = k else {
            errors.push(at(
                0,
                format!(
                    "the returned table has a non-string key of type {}",
                    k.type_name()
                ),
            ));
            continue;
        };
        let k = k.to_string_lossy();
        let rec: Option<Table> = match &v {
            Value::Table(t) => genuine.raw_get(t.clone()).map_err(internal)?,
            _ => None,
        };
        match (rec, v) {
            (Some(rec), _) => entries.push((k, rec)),
            (None, Value::Table(_)) => errors.push(
                at(
                    0,
                    format!(
                        "returned key {} is a table, not a map or program",
                        names::quoted(&k)
                    ),
                )
                .hint(not_decl_hint),
            ),
            (None, other) => errors.push(
                at(
                    0,
                    format!(
                        "returned key {} is {}, not a map or program",
                        names::quoted(&k),
                        with_article(lua_type(&other))
                    ),
                )
                .hint(not_decl_hint),
            ),
        }
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));

    let dump: mlua::Function = state.get("dump").map_err(internal)?;
    let mut programs = Vec::new();
    for (name, t) in &entries {
        let tag: Option<String> = t.raw_get("__ljbpf").map_err(internal)?;
        let line: u32 = t.raw_get("line").map_err(internal)?;
        if name.is_empty() {
            // An empty key would otherwise read as "not returned" and be named after an upvalue.
            let r = names::rust_ident(name).expect_err("empty names are refused");
            errors.push(
                at(
                    line,
                    format!(
                        "{} name `` (the returned key) {}",
                        tag.as_deref().unwrap_or("map"),
                        r.reason
                    ),
                )
                .hint(r.hint),
            );
            continue;
        }
        match tag.as_deref() {
            Some("map") => {
                let id: usize = t.raw_get("id").map_err(internal)?;
                if let Some(m) = id.checked_sub(1).and_then(|i| maps.get_mut(i)) {
                    if m.name.is_empty() {
                        m.name = name.clone();
                    }
                }
            }
            Some("program") => {
                let kind: String = t.raw_get("kind").map_err(internal)?;
                let target: Option<String> = t
                    .raw_get::<Option<mlua::LuaString>>("target")
                    .map_err(internal)?
                    .map(|s| s.to_string_lossy());
                let ret: bool = t
                    .raw_get::<Option<bool>>("ret")
                    .map_err(internal)?
                    .unwrap_or(false);
                // tc and cgroup skb hooks; the prelude checked the spelling.
                let direction = t
                    .raw_get::<Option<String>>("direction")
                    .map_err(internal)?
                    .and_then(|d| Direction::parse(&d))
                    .unwrap_or(Direction::Ingress);
                // The prelude tags a declaration with the kind's section prefix.
                let class = ProgramClass::ALL
                    .iter()
                    .copied()
                    .find(|c| c.section_prefix() == kind);
                let kind = match (class, target) {
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
                        ret,
                    },
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
                    (Some(ProgramClass::Uprobe), Some(t)) => {
                        let (p, s) = t.rsplit_once(':').unwrap_or((t.as_str(), ""));
                        ProgramKind::Uprobe {
                            path: p.to_string().into(),
                            symbol: s.to_string().into(),
                            ret,
                        }
                    }
                    (Some(ProgramClass::RawTracepoint), Some(n)) => {
                        ProgramKind::RawTracepoint { name: n.into() }
                    }
                    (Some(ProgramClass::TpBtf), Some(n)) => ProgramKind::TpBtf { name: n.into() },
                    (Some(c @ (ProgramClass::Fentry | ProgramClass::Fexit)), Some(f)) => {
                        ProgramKind::Fentry {
                            function: f.into(),
                            ret: c == ProgramClass::Fexit,
                        }
                    }
                    (Some(ProgramClass::PerfEvent), _) => match perf_event_spec(t) {
                        Ok(event) => ProgramKind::PerfEvent { event },
                        Err(e) => {
                            errors.push(at(line, format!("bpf.perf_event: {e}")).hint(
                                "e.g. bpf.perf_event({ type = 'software', config = 'cpu_clock', frequency = 99 }, fn)",
                            ));
                            continue;
                        }
                    },
                    _ => {
                        errors.push(at(line, format!("unknown program kind {kind}")));
                        continue;
                    }
                };
                let f: mlua::Function = t.raw_get("fn").map_err(internal)?;
                let dumped: Table = dump.call(f).map_err(internal)?;
                match Proto::from_dump(lua, &state_describe(state)?, &dumped) {
                    Ok(proto) => programs.push(ProgramDecl {
                        name: name.clone(),
                        kind,
                        proto,
                        span: Span::new(file, line),
                    }),
                    Err(e) => errors.push(at(
                        line,
                        format!("cannot read program {}: {e}", names::quoted(name)),
                    )),
                }
            }
            _ => return Err(at(0, "internal error: a declaration without a kind".into()).into()),
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

    let layouts = layouts(lua, &ctypes, &maps).map_err(internal)?;
    if errors.is_empty() {
        Ok(Loaded {
            maps,
            programs,
            ctypes,
            layouts,
        })
    } else {
        let mut d = Diagnostics(errors);
        d.normalize();
        Err(d)
    }
}

/// The event of a `bpf.perf_event{...}` declaration: `type` and `config` by name (from
/// ljbpf-core's tables) or number, and `frequency` or `period` (default: 99 Hz, like bcc's
/// profile; a frequency is what makes samples comparable across machines).
fn perf_event_spec(t: &Table) -> Result<PerfEventSpec, String> {
    let field = |k: &str| t.raw_get::<Value>(k).unwrap_or(Value::Nil);
    let number = |k: &str, v: &Value| -> Result<Option<u64>, String> {
        match v {
            Value::Nil => Ok(None),
            Value::Integer(i) if *i >= 0 => Ok(Some(*i as u64)),
            Value::Number(n) if *n >= 0.0 && n.fract() == 0.0 && *n < 1.8e19 => Ok(Some(*n as u64)),
            other => Err(format!(
                "`{k}` must be a non-negative integer, got {}",
                with_article(lua_type(other))
            )),
        }
    };
    let name_or_number = |k: &str, v: &Value, lookup: &dyn Fn(&str) -> Option<u64>| match v {
        Value::String(s) => {
            let s = s.to_string_lossy();
            lookup(&s).map(Some).ok_or_else(|| match k {
                "type" => format!(
                    "unknown type `{s}`; the types are: {}",
                    PERF_TYPES
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                _ => format!("unknown {k} `{s}`"),
            })
        }
        other => number(k, other),
    };
    let perf_type = name_or_number("type", &field("perf_type"), &|s| {
        PerfEventSpec::type_named(s).map(u64::from)
    })?
    .unwrap_or(u64::from(ljbpf_core::program::PERF_TYPE_SOFTWARE));
    let perf_type = u32::try_from(perf_type).map_err(|_| "`type` is too large".to_string())?;
    let config = name_or_number("config", &field("perf_config"), &|s| {
        PerfEventSpec::config_named(perf_type, s)
    })
    .map_err(
        |e| match PerfEventSpec::config_names(perf_type).as_slice() {
            [] => format!("{e} (events of this type are given by number)"),
            names => format!("{e}; the names are: {}", names.join(", ")),
        },
    )?
    .unwrap_or(0);
    let sample = match (
        number("frequency", &field("frequency"))?,
        number("period", &field("period"))?,
    ) {
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

fn state_describe(state: &Table) -> Result<mlua::Function, Diagnostics> {
    state
        .get("describe")
        .map_err(|e| Diagnostic::new(Span::new("", 0), format!("internal error: {e}")).into())
}

/// Asks LuaJIT for the size and field offsets of every struct we parsed, so the layout we
/// compute (and generate Rust structs from) is checked against the one LuaJIT uses.
fn layouts(lua: &Lua, ctypes: &CTypes, maps: &[MapDecl]) -> mlua::Result<Vec<Layout>> {
    let ffi: Table = lua.globals().get("ffi")?;
    let sizeof: mlua::Function = ffi.get("sizeof")?;
    let offsetof: mlua::Function = ffi.get("offsetof")?;
    let mut names: Vec<String> = ctypes
        .structs()
        .filter_map(|s| s.name.clone())
        .map(|n| format!("struct {n}"))
        .collect();
    for m in maps {
        names.push(m.key.clone());
        names.push(m.value.clone());
    }
    names.sort();
    names.dedup();
    let mut out = Vec::new();
    for name in names {
        let Ok(size) = sizeof.call::<Option<f64>>(name.as_str()) else {
            continue;
        };
        let Some(size) = size else { continue };
        let mut offsets = Vec::new();
        if let Ok(ty) = ctypes.parse_type(&name) {
            if let Some(def) = ty.as_struct() {
                for f in &def.fields {
                    if let Ok(Some(off)) =
                        offsetof.call::<Option<f64>>((name.as_str(), f.name.as_str()))
                    {
                        offsets.push((f.name.clone(), off as u32));
                    }
                }
            }
        }
        out.push(Layout {
            ctype: name,
            size: size as u32,
            offsets,
        });
    }
    Ok(out)
}
