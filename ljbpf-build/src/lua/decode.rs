//! Stage 2: a program function's bytecode, constants and upvalues as Rust data.
//!
//! The prelude's `dump` reads them with `jit.util` (`funcbc`, `funck`, `funcinfo`) and
//! `debug.getupvalue`; here they become typed instructions with line numbers.

use mlua::{Function, Table, Value};

use super::bc::Ins;

/// A compile-time value: a constant of the function or the value of an upvalue.
#[derive(Clone, Debug, PartialEq)]
pub enum Const {
    /// `nil`
    Nil,
    /// `true`/`false`
    Bool(bool),
    /// A Lua number.
    Num(f64),
    /// A string: Lua's bytes, not necessarily UTF-8.
    Str(Vec<u8>),
    /// An `int64_t` cdata (`LL`).
    Int64(i64),
    /// A `uint64_t` cdata (`ULL`).
    UInt64(u64),
    /// A map, index into the file's map list.
    Map(u32),
    /// A C type (`ffi.typeof`), by name.
    CType(String),
    /// A standard library table (`bit`, `ffi`, `math`, ...).
    Lib(String),
    /// A table of compile-time values with string keys (sorted).
    Table(Vec<(String, Const)>),
    /// Anything else, described (functions, other cdata, table templates).
    Other(String),
}

impl Const {
    /// How the value reads in an error message.
    pub fn describe(&self) -> String {
        match self {
            Const::Nil => "nil".into(),
            Const::Bool(b) => b.to_string(),
            Const::Num(n) => format!("number {n}"),
            Const::Str(s) => match std::str::from_utf8(s) {
                Ok(text) => format!("string {text:?}"),
                Err(_) => format!("string \"{}\"", crate::names::escape_bytes(s)),
            },
            Const::Int64(v) => format!("{v}LL"),
            Const::UInt64(v) => format!("{v}ULL"),
            Const::Map(_) => "a map".into(),
            Const::CType(c) => format!("ctype<{c}>"),
            Const::Lib(l) => format!("the {l} library"),
            Const::Table(_) => "a table".into(),
            Const::Other(o) => o.clone(),
        }
    }
}

/// A decoded function prototype.
#[derive(Clone, Debug)]
pub struct Proto {
    /// Number of fixed parameters.
    pub params: u8,
    /// Frame size in slots.
    pub stackslots: u8,
    /// First line of the function.
    pub first_line: u32,
    /// Instructions with their line, index = pc (pc 0 is the FUNCF header).
    pub ins: Vec<(Ins, u32)>,
    /// Number constants (`KNUM`, `*VN` operands).
    pub knum: Vec<f64>,
    /// GC constants, index as LuaJIT numbers them from the end: `kgc[i]` is `funck(f, -i-1)`.
    pub kgc: Vec<Const>,
    /// Upvalues: name and value at the time the file returned.
    pub upvalues: Vec<(String, Const)>,
}

/// Most table entries described from the upvalues of a file's programs (all programs together,
/// a table reached twice counted twice): bounds what the compiler allocates for them.
pub const DESCRIBE_ENTRIES: usize = 100_000;

/// Most string bytes described from the upvalues of a file's programs (counted as entries are).
pub const DESCRIBE_BYTES: usize = 16 << 20;

/// Deepest table nesting described; deeper tables are opaque values.
const DESCRIBE_DEPTH: u32 = 4;

/// What describing upvalues has used of [`DESCRIBE_ENTRIES`] and [`DESCRIBE_BYTES`].
#[derive(Debug, Default)]
pub struct Budget {
    entries: usize,
    bytes: usize,
}

impl Budget {
    fn take(&mut self, bytes: usize) -> mlua::Result<()> {
        self.entries += 1;
        self.bytes = self.bytes.saturating_add(bytes);
        if self.entries > DESCRIBE_ENTRIES || self.bytes > DESCRIBE_BYTES {
            return Err(mlua::Error::runtime(format!(
                "the values its upvalues reach are too large (more than {DESCRIBE_ENTRIES} table entries or {} MiB of strings, counting a table or string each time it is reached)",
                DESCRIBE_BYTES >> 20
            )));
        }
        Ok(())
    }
}

fn describe(
    describe_fn: &Function,
    v: Value,
    depth: u32,
    budget: &mut Budget,
) -> mlua::Result<Const> {
    let (kind, payload): (String, Value) = describe_fn.call(v)?;
    described(describe_fn, &kind, payload, depth, budget)
}

/// A value from the prelude's `describe` (kind, payload); tables are read field by field, with
/// raw access (no metamethod of the probe file runs).
fn described(
    describe_fn: &Function,
    kind: &str,
    payload: Value,
    depth: u32,
    budget: &mut Budget,
) -> mlua::Result<Const> {
    let bytes = match &payload {
        Value::String(s) => s.as_bytes().len(),
        _ => 0,
    };
    budget.take(bytes)?;
    match (kind, payload) {
        ("table", Value::Table(t)) if depth < DESCRIBE_DEPTH => {
            let mut fields = Vec::new();
            for pair in t.pairs::<Value, Value>() {
                let (k, v) = pair?;
                let key = match k {
                    Value::String(s) => {
                        budget.take(s.as_bytes().len())?;
                        s.to_string_lossy()
                    }
                    Value::Integer(i) => i.to_string(),
                    Value::Number(n) => n.to_string(),
                    _ => continue,
                };
                fields.push((key, describe(describe_fn, v, depth + 1, budget)?));
            }
            fields.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(Const::Table(fields))
        }
        ("table", _) => Ok(Const::Other("a deeply nested table".into())),
        (kind, payload) => Ok(Const::from_kind(kind, payload)),
    }
}

impl Proto {
    /// Reads the table made by the prelude's `dump`; upvalues are described within `budget`.
    pub fn from_dump(
        describe_fn: &Function,
        t: &Table,
        budget: &mut Budget,
    ) -> mlua::Result<Proto> {
        let mut ins = Vec::new();
        let words: Table = t.get("ins")?;
        let lines: Table = t.get("lines")?;
        for (i, w) in words.sequence_values::<f64>().enumerate() {
            // funcbc returns the 32-bit word as a (possibly negative) number.
            let word = w? as i64 as u32;
            let line: u32 = lines.get(i + 1)?;
            let decoded = Ins::decode(word).ok_or_else(|| {
                mlua::Error::runtime(format!("unknown opcode {} at pc {i}", word & 0xff))
            })?;
            ins.push((decoded, line));
        }
        let knum = t
            .get::<Table>("knum")?
            .sequence_values::<f64>()
            .collect::<mlua::Result<Vec<_>>>()?;
        let mut kgc = Vec::new();
        for k in t.get::<Table>("kgc")?.sequence_values::<Table>() {
            let k = k?;
            let kind: String = k.get("kind")?;
            let payload: Value = k.get("payload")?;
            kgc.push(Const::from_kind(&kind, payload));
        }
        let mut upvalues = Vec::new();
        for uv in t.get::<Table>("uv")?.sequence_values::<Table>() {
            let uv = uv?;
            // Names are bytes in Lua; a non-UTF-8 one gets U+FFFD and then fails as a name.
            let name = uv.get::<mlua::LuaString>("name")?.to_string_lossy();
            let kind: String = uv.get("kind")?;
            let payload: Value = uv.get("payload")?;
            let value = described(describe_fn, &kind, payload, 0, budget)?;
            upvalues.push((name, value));
        }
        Ok(Proto {
            params: t.get("params")?,
            stackslots: t.get("stackslots")?,
            first_line: t.get("linedefined")?,
            ins,
            knum,
            kgc,
            upvalues,
        })
    }

    /// The string constant D/C of an instruction (`funck(f, -d-1)`), as bytes.
    pub fn kstr(&self, idx: u16) -> Option<&[u8]> {
        match self.kgc.get(idx as usize) {
            Some(Const::Str(s)) => Some(s),
            _ => None,
        }
    }
}

impl Const {
    fn from_kind(kind: &str, payload: Value) -> Const {
        let s = match &payload {
            Value::String(s) => s.to_string_lossy(),
            _ => String::new(),
        };
        match kind {
            "nil" => Const::Nil,
            "boolean" => Const::Bool(matches!(payload, Value::Boolean(true))),
            "number" => Const::Num(match payload {
                Value::Integer(i) => i as f64,
                Value::Number(n) => n,
                _ => 0.0,
            }),
            // The bytes themselves: a lossy conversion would change what the program compares.
            "string" => Const::Str(match &payload {
                Value::String(s) => s.as_bytes().to_vec(),
                _ => Vec::new(),
            }),
            "map" => Const::Map(match payload {
                Value::Integer(i) => (i - 1) as u32,
                Value::Number(n) => (n as i64 - 1) as u32,
                _ => 0,
            }),
            "int64" => s.parse().map(Const::Int64).unwrap_or(Const::Other(s)),
            "uint64" => s.parse().map(Const::UInt64).unwrap_or(Const::Other(s)),
            "ctype" => Const::CType(s),
            "lib" => Const::Lib(s),
            "cdata" => Const::Other(format!("cdata<{s}>")),
            "function" => Const::Other("a function".into()),
            "template" => Const::Other("a table constructor".into()),
            "proto" => Const::Other("a nested function".into()),
            other => Const::Other(other.to_string()),
        }
    }
}

impl Proto {
    /// The bytecode as text, one instruction per line: `pc line OP A B C/D`, LuaJIT names.
    pub fn listing(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        for (pc, (ins, line)) in self.ins.iter().enumerate() {
            let _ = write!(out, "{pc:04} {line:>4} {:<7} {:>3}", ins.op.name(), ins.a);
            if ins.op.has_jump() {
                let _ = write!(out, " => {:04}", ins.jump_target(pc));
            } else {
                let _ = write!(out, " {:>3} {:>3}  (d={})", ins.b, ins.c, ins.d);
            }
            out.push('\n');
        }
        out
    }
}
