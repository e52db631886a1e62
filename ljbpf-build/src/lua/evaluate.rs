//! Stage 1a: run the top level of a probe file once and read what it declared, as plain data
//! ([`Evaluated`]): the part of loading that runs Lua, and so the part `isolate` puts in a
//! child process.
//!
//! The probe's chunk runs in the environment the prelude builds (see `prelude.lua`): a
//! description API with no way to memory, files or code execution. An instruction hook bounds
//! its time and stays installed for everything that runs Lua afterwards (the compiler's own
//! reading of declarations included); the state's allocator bounds its memory. Values are read
//! with raw access only, so no metamethod of the probe file runs while the compiler reads them.

use std::rc::Rc;
use std::time::{Duration, Instant};

use mlua::{Function, HookTriggers, Lua, Table, Value, VmState};

use crate::diag::{Diagnostic, Diagnostics, Span};
use crate::names;

use super::bc::LUAJIT_VERSION;
use super::decode::{Budget, Proto};
use super::host::{self, Shared};

/// How long the top level of a probe file may run.
pub const TOP_LEVEL_TIME_LIMIT: Duration = Duration::from_secs(5);

/// How much memory the build-time Lua state may use.
pub const TOP_LEVEL_MEMORY_LIMIT: usize = 1 << 30;

const PRELUDE: &str = include_str!("prelude.lua");

/// A `bpf.map(...)` declaration as the top level made it.
#[derive(Clone, Debug, PartialEq)]
pub struct RawMap {
    /// The map kind's name (`hash`).
    pub kind: String,
    /// Maximum entries.
    pub max_entries: u32,
    /// Key C type as written.
    pub key: String,
    /// Value C type as written.
    pub value: String,
    /// How `ljbpf run` shows it (`{ show = '...' }`), as written.
    pub show: Option<String>,
    /// The line of `bpf.map`.
    pub line: u32,
}

/// A program declaration as the top level made it.
#[derive(Clone, Debug)]
pub struct RawProgram {
    /// The section prefix of the program's class (`tracepoint`), as the prelude tagged it.
    pub kind: String,
    /// What it attaches to, as written (`sched/sched_switch`, `path:symbol`, an interface).
    pub target: Option<String>,
    /// A return probe.
    pub ret: bool,
    /// `ingress` or `egress` for tc and cgroup skb hooks, as written.
    pub direction: Option<String>,
    /// A perf event's `type`, `config`, `frequency` and `period`, as written (all nil for the
    /// other kinds); the loader checks them.
    pub perf: [RawField; 4],
    /// The line of the constructor call.
    pub line: u32,
    /// The program function's bytecode.
    pub proto: Proto,
}

/// A scalar field of a declaration as the probe file wrote it.
#[derive(Clone, Debug, PartialEq)]
pub enum RawField {
    /// Absent.
    Nil,
    /// A Lua number.
    Number(f64),
    /// A string (lossily UTF-8: these are names).
    String(String),
    /// Another kind of value: its Lua type.
    Other(String),
}

impl RawField {
    fn read(v: Value) -> RawField {
        match v {
            Value::Nil => RawField::Nil,
            Value::Integer(i) => RawField::Number(i as f64),
            Value::Number(n) => RawField::Number(n),
            Value::String(s) => RawField::String(s.to_string_lossy()),
            other => RawField::Other(lua_type(&other).to_string()),
        }
    }

    /// Lua's name for its type.
    pub fn lua_type(&self) -> &str {
        match self {
            RawField::Nil => "nil",
            RawField::Number(_) => "number",
            RawField::String(_) => "string",
            RawField::Other(t) => t,
        }
    }
}

/// One entry of the returned table.
#[derive(Clone, Debug)]
pub enum Returned {
    /// A map: its index in [`Evaluated::maps`].
    Map {
        /// Index into `maps`.
        id: u32,
        /// The line of `bpf.map`.
        line: u32,
    },
    /// A program.
    Program(Box<RawProgram>),
}

/// What the top level of a probe file declared.
#[derive(Clone, Debug)]
pub struct Evaluated {
    /// Every accepted `ffi.cdef` text with the line its text starts at, in order.
    pub cdefs: Vec<(String, u32)>,
    /// Maps in declaration order.
    pub maps: Vec<RawMap>,
    /// The returned table's entries, sorted by key.
    pub returned: Vec<(String, Returned)>,
    /// Errors found while reading the declarations (reported with the loader's own).
    pub errors: Vec<Diagnostic>,
}

/// The result of evaluating a probe file, and what its top level printed.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Top-level `print` lines (bytes, unescaped).
    pub prints: Vec<Vec<u8>>,
    /// The declarations, or why there are none.
    pub result: Result<Evaluated, Diagnostics>,
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

fn memory_error(file: &str) -> Diagnostic {
    Diagnostic::new(
        Span::new(file, 0),
        format!(
            "the top level of the probe file used more than {} MiB of memory",
            TOP_LEVEL_MEMORY_LIMIT >> 20
        ),
    )
    .hint("probe files run inside cargo build; build large tables and strings lazily or not at all")
}

/// A message on one line: control characters (a newline in an `error` text) escaped.
fn one_line(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

/// A Lua error message (`file:line: message`, maybe with a traceback) as a diagnostic.
fn lua_message(file: &str, text: &str) -> Diagnostic {
    let first = text.lines().next().unwrap_or("").trim();
    error_text(file, first)
}

/// An error value of the probe's chunk (`file:line: message`, no traceback: the prelude's
/// handler adds none) as a diagnostic, the whole text on one line.
fn error_text(file: &str, text: &str) -> Diagnostic {
    let first = text.trim();
    let first = first.strip_prefix("runtime error: ").unwrap_or(first);
    let first = first.strip_prefix("syntax error: ").unwrap_or(first);
    if first == "not enough memory" {
        return memory_error(file);
    }
    if let Some(rest) = first.strip_prefix(file) {
        if let Some(rest) = rest.strip_prefix(':') {
            if let Some((line, msg)) = rest.split_once(':') {
                if let Ok(line) = line.trim().parse::<u32>() {
                    return Diagnostic::new(Span::new(file, line), one_line(msg.trim()));
                }
            }
        }
    }
    Diagnostic::new(Span::new(file, 0), one_line(first))
}

fn lua_err(file: &str, e: &mlua::Error) -> Diagnostic {
    match e {
        mlua::Error::MemoryError(_) => memory_error(file),
        mlua::Error::CallbackError { cause, .. } => lua_message(file, &cause.to_string()),
        other => lua_message(file, &other.to_string()),
    }
}

/// Runs `source` (the bytes of probe file `file`) and reads its declarations. `progress` is told
/// the line the top level runs at, every few thousand instructions.
pub fn evaluate(file: &str, source: &[u8], progress: impl Fn(u32) + 'static) -> Outcome {
    let state: Shared = Rc::default();
    let result = run(file, source, &state, progress);
    let prints = std::mem::take(&mut state.borrow_mut().prints);
    Outcome { prints, result }
}

fn run(
    file: &str,
    source: &[u8],
    state: &Shared,
    progress: impl Fn(u32) + 'static,
) -> Result<Evaluated, Diagnostics> {
    let at = |line: u32, msg: String| Diagnostic::new(Span::new(file, line), msg);
    let internal = |e: mlua::Error| {
        at(
            0,
            format!("internal error in the build-time Lua state: {e}"),
        )
    };
    // SAFETY: the prelude needs jit.util and debug.getupvalue (an unsafe mlua state); the probe
    // file never sees them: it runs in the prelude's environment, which holds none of them.
    let lua = unsafe { Lua::unsafe_new() };
    let version: String = lua
        .globals()
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
    let progress: Rc<dyn Fn(u32)> = Rc::new(progress);
    let host = host::table(&lua, state, source).map_err(internal)?;
    let mark = progress.clone();
    host.raw_set(
        "mark",
        lua.create_function(move |_, line: i64| {
            // A C caller has no line (-1).
            mark(u32::try_from(line).unwrap_or(0));
            Ok(())
        })
        .map_err(internal)?,
    )
    .map_err(internal)?;
    let prelude: Table = lua
        .load(PRELUDE)
        .set_name("=ljbpf-prelude")
        .call(host)
        .map_err(internal)?;

    // A probe file that allocates without bound fails instead of exhausting the build host.
    if lua.set_memory_limit(TOP_LEVEL_MEMORY_LIMIT).is_err() {
        return Err(at(
            0,
            "internal error: the build-time Lua state cannot limit its memory".into(),
        )
        .into());
    }
    // The hook is never removed: whatever runs Lua in this state later (the compiler reading
    // declarations) is under the same deadline.
    let start = Instant::now();
    let hook_file = file.to_string();
    let chunk_name = format!("@{file}");
    let hook_state = state.clone();
    lua.set_hook(
        HookTriggers::new().every_nth_instruction(1_000),
        move |lua, debug| {
            let line = probe_line(lua, debug, &chunk_name);
            progress(line);
            if let Some(msg) = &hook_state.borrow().limit {
                return Err(mlua::Error::runtime(msg.clone()));
            }
            if start.elapsed() > TOP_LEVEL_TIME_LIMIT {
                let msg = format!(
                    "{hook_file}:{line}: the top level of the probe file ran for more than {} s here (an endless loop?)",
                    TOP_LEVEL_TIME_LIMIT.as_secs()
                );
                hook_state.borrow_mut().limit = Some(msg.clone());
                Err(mlua::Error::runtime(msg))
            } else {
                Ok(VmState::Continue)
            }
        },
    )
    .map_err(internal)?;
    let limit_or = |e: mlua::Error| -> Diagnostics {
        match &state.borrow().limit {
            Some(msg) => lua_message(file, msg).into(),
            None => lua_err(file, &e).into(),
        }
    };
    let chunk = lua
        .load(source)
        .set_name(format!("@{file}"))
        .set_mode(mlua::chunk::ChunkMode::Text)
        .into_function()
        .map_err(|e| Diagnostics::from(lua_err(file, &e)))?;
    let run_fn: Function = prelude.raw_get("run").map_err(internal)?;
    let (ok, ret): (bool, Value) = run_fn.call(chunk).map_err(limit_or)?;
    if !ok {
        let text = match &ret {
            Value::String(s) => s.to_string_lossy(),
            other => format!("error of type {}", lua_type(other)),
        };
        return Err(error_text(file, &text).into());
    }
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
    let read = collect(file, &prelude, &ret).map_err(limit_or)?;
    if let Some(msg) = &state.borrow().limit {
        return Err(lua_message(file, msg).into());
    }
    let (maps, returned, errors) = read;
    let cdefs = std::mem::take(&mut state.borrow_mut().cdefs);
    Ok(Evaluated {
        cdefs,
        maps,
        returned,
        errors,
    })
}

/// The line of the probe file running now: the innermost frame of the probe's own chunk (the
/// hook may fire inside the prelude, called from it); 0 if none.
fn probe_line(lua: &Lua, debug: &mlua::debug::Debug, chunk_name: &str) -> u32 {
    let line = |d: &mlua::debug::Debug| {
        let ours = d.source().source.as_deref() == Some(chunk_name);
        ours.then(|| d.current_line().and_then(|l| u32::try_from(l).ok()))
            .flatten()
    };
    if let Some(l) = line(debug) {
        return l;
    }
    (1..64)
        .map_while(|level| lua.inspect_stack(level, line))
        .flatten()
        .next()
        .unwrap_or(0)
}

type Collected = (Vec<RawMap>, Vec<(String, Returned)>, Vec<Diagnostic>);

/// Reads the prelude's records of the declarations the returned table names.
fn collect(file: &str, prelude: &Table, ret: &Table) -> mlua::Result<Collected> {
    let at = |line: u32, msg: String| Diagnostic::new(Span::new(file, line), msg);
    let mut errors = Vec::new();

    let mut maps = Vec::new();
    let maps_t: Table = prelude.raw_get("maps")?;
    for m in maps_t.sequence_values::<Table>() {
        let m = m?;
        maps.push(RawMap {
            kind: m.raw_get("kind")?,
            max_entries: m.raw_get::<f64>("max_entries")? as u32,
            key: m.raw_get::<mlua::LuaString>("key")?.to_string_lossy(),
            value: m.raw_get::<mlua::LuaString>("val")?.to_string_lossy(),
            show: m
                .raw_get::<Option<mlua::LuaString>>("show")?
                .map(|s| s.to_string_lossy()),
            line: m.raw_get("line")?,
        });
    }

    // The returned table: only the prelude's private copies of declarations are read (raw, so
    // no metamethod of the probe file runs here): a made-up table that looks like a
    // declaration is not one.
    let genuine: Table = prelude.raw_get("genuine")?;
    let not_decl_hint = "return only values made by bpf.map, bpf.tracepoint, bpf.socket, bpf(...)";
    // Lua's table order is not deterministic (string hashes are seeded): entries and their
    // errors are sorted by key.
    let mut entries: Vec<(String, Table)> = Vec::new();
    let mut key_errors: Vec<(String, Diagnostic)> = Vec::new();
    for pair in ret.pairs::<Value, Value>() {
        let (k, v) = pair?;
        let Value::String(k) = k else {
            key_errors.push((
                String::new(),
                at(
                    0,
                    format!(
                        "the returned table has a non-string key of type {}",
                        lua_type(&k)
                    ),
                ),
            ));
            continue;
        };
        let k = k.to_string_lossy();
        let rec: Option<Table> = match &v {
            Value::Table(t) => genuine.raw_get(t.clone())?,
            _ => None,
        };
        match (rec, v) {
            (Some(rec), _) => entries.push((k, rec)),
            (None, Value::Table(_)) => key_errors.push((
                k.clone(),
                at(
                    0,
                    format!(
                        "returned key {} is a table, not a map or program",
                        names::quoted(&k)
                    ),
                )
                .hint(not_decl_hint),
            )),
            (None, other) => key_errors.push((
                k.clone(),
                at(
                    0,
                    format!(
                        "returned key {} is {}, not a map or program",
                        names::quoted(&k),
                        with_article(lua_type(&other))
                    ),
                )
                .hint(not_decl_hint),
            )),
        }
    }
    key_errors.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.message.cmp(&b.1.message)));
    errors.extend(key_errors.into_iter().map(|(_, d)| d));
    entries.sort_by(|a, b| a.0.cmp(&b.0));

    let dump: Function = prelude.raw_get("dump")?;
    let describe: Function = prelude.raw_get("describe")?;
    let mut budget = Budget::default();
    let mut returned = Vec::new();
    for (name, t) in entries {
        let tag: String = t.raw_get("__ljbpf")?;
        let line: u32 = t.raw_get("line")?;
        if tag == "map" {
            let id: u32 = t.raw_get("id")?;
            returned.push((
                name,
                Returned::Map {
                    id: id.saturating_sub(1),
                    line,
                },
            ));
            continue;
        }
        let f: Function = t.raw_get("fn")?;
        let dumped: Table = dump.call(f)?;
        match Proto::from_dump(&describe, &dumped, &mut budget) {
            Ok(proto) => returned.push((
                name,
                Returned::Program(Box::new(RawProgram {
                    kind: t.raw_get("kind")?,
                    target: t
                        .raw_get::<Option<mlua::LuaString>>("target")?
                        .map(|s| s.to_string_lossy()),
                    ret: t.raw_get::<Option<bool>>("ret")?.unwrap_or(false),
                    direction: t
                        .raw_get::<Option<mlua::LuaString>>("direction")?
                        .map(|s| s.to_string_lossy()),
                    perf: [
                        RawField::read(t.raw_get("perf_type")?),
                        RawField::read(t.raw_get("perf_config")?),
                        RawField::read(t.raw_get("frequency")?),
                        RawField::read(t.raw_get("period")?),
                    ],
                    line,
                    proto,
                })),
            )),
            Err(e) => {
                let msg = match &e {
                    mlua::Error::RuntimeError(m) => m.clone(),
                    other => other.to_string(),
                };
                errors.push(at(
                    line,
                    format!("cannot read program {}: {msg}", names::quoted(&name)),
                ))
            }
        }
    }
    Ok((maps, returned, errors))
}
