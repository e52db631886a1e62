//! The one place that decides whether a name a probe file gives (a map, a program, a C struct
//! or field used in a map's key, value or event type) is usable, and as which Rust identifier.
//!
//! Names become ELF symbols, kernel object names and items of the generated bindings module
//! (`Probe::<map>()`, `Probe::attach_<program>()`, `INSNS_<PROGRAM>`, `struct <name>`), which
//! is compiled into the user's crate by `include_probe!`. A name is refused, at the Lua line that
//! gives it, when no identifier for it could compile there or when it would collide with another
//! name or with an item the bindings always declare. Rust keywords that may be raw identifiers
//! (`type`, `fn`, `gen`, ...) are kept as `r#type`; the four that may not (`self`, `Self`,
//! `crate`, `super`) and `_` are refused.

use proc_macro2::{Ident, Span};

/// Rust's strict keywords (2021 edition), reserved keywords, and keywords of later editions the
/// bindings may be compiled under (`gen`, 2024). Each of these needs `r#` to be an identifier.
pub const RUST_KEYWORDS: &[&str] = &[
    // strict
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub",
    "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true", "type",
    "unsafe", "use", "where", "while", // reserved
    "abstract", "become", "box", "do", "final", "macro", "override", "priv", "try", "typeof",
    "unsized", "virtual", "yield", // 2024
    "gen",
];

/// Keywords that cannot be raw identifiers (`r#self` is an error), and `_`, which is no
/// identifier at all.
const NEVER_IDENTIFIERS: &[&str] = &["self", "Self", "crate", "super", "_"];

/// Methods every generated `Probe` has; a map's method must not take one of these names.
pub const PROBE_METHODS: &[&str] = &["load", "open", "attach_all", "inner"];

/// Prefixes of the per-program methods of `Probe` (`attach_<program>`, `test_run_<program>`).
pub const PROGRAM_METHOD_PREFIXES: &[&str] = &["attach_", "test_run_"];

/// Type names the bindings module declares or uses unqualified; a C struct of that name would
/// replace them there (`struct u64` would change `[u64; N]`, `struct Default` the `impl
/// Default`).
const RESERVED_TYPE_NAMES: &[&str] = &[
    "Probe",
    "OpenProbe",
    "Result",
    "Option",
    "Vec",
    "Box",
    "String",
    "Default",
    "Clone",
    "Copy",
    "Debug",
    "PartialEq",
    "Eq",
    "Sized",
    "Send",
    "Sync",
    "bool",
    "char",
    "str",
    "u8",
    "u16",
    "u32",
    "u64",
    "u128",
    "usize",
    "i8",
    "i16",
    "i32",
    "i64",
    "i128",
    "isize",
    "f32",
    "f64",
];

/// `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_c_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `name` quoted for a message: control characters and non-ASCII escaped, so a name never
/// breaks a diagnostic line (or a `cargo::error=` line made from it).
pub fn quoted(name: &str) -> String {
    let mut out = String::from("`");
    for c in name.chars() {
        if c.is_ascii_graphic() || c == ' ' {
            out.push(c);
        } else {
            out.extend(c.escape_default());
        }
    }
    out.push('`');
    out
}

/// Bytes as one line of text: printable ASCII kept, everything else (line breaks, escape
/// sequences, bytes that are not UTF-8) as `\n`, `\xNN`.
pub fn escape_bytes(bytes: &[u8]) -> String {
    let mut out = String::new();
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            b' '..=b'~' => out.push(b as char),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

/// Why a name cannot be used, and what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The reason, to follow "map `x` ..." / "program `x` ...".
    pub reason: String,
    /// What to do instead.
    pub hint: String,
}

fn refuse(reason: impl Into<String>, hint: impl Into<String>) -> Refusal {
    Refusal {
        reason: reason.into(),
        hint: hint.into(),
    }
}

/// The Rust identifier for `name` as a method, field or type name: itself, or `r#name` for a
/// keyword; refused when it is not a C identifier, is empty, or is a keyword that cannot be raw.
pub fn rust_ident(name: &str) -> Result<Ident, Refusal> {
    if name.is_empty() {
        return Err(refuse(
            "is empty",
            "give it a name of letters, digits and _ (it names the kernel object and the Rust binding)",
        ));
    }
    if !is_c_identifier(name) {
        return Err(refuse(
            "is not a C identifier",
            "use letters, digits and _ (it names the kernel object and the Rust binding)",
        ));
    }
    if NEVER_IDENTIFIERS.contains(&name) {
        return Err(refuse(
            if name == "_" {
                "is `_`, which Rust does not accept as a name".to_string()
            } else {
                format!("is the Rust keyword `{name}`, which cannot name anything in the generated bindings (not even as r#{name})")
            },
            if name == "_" {
                "give it a name of letters, digits and _".to_string()
            } else {
                format!("rename it, e.g. `{name}_`")
            },
        ));
    }
    Ok(if RUST_KEYWORDS.contains(&name) {
        Ident::new_raw(name, Span::call_site())
    } else {
        Ident::new(name, Span::call_site())
    })
}

/// A `Probe` method named `prefix` + `name` (`attach_type`): the prefix makes any keyword an
/// ordinary identifier.
pub fn method_ident(prefix: &str, name: &str) -> Ident {
    let joined = format!("{prefix}{name}");
    rust_ident(&joined).unwrap_or_else(|_| Ident::new_raw(&joined, Span::call_site()))
}

/// The `INSNS_<PROGRAM>` static of a program.
pub fn insns_ident(program: &str) -> Ident {
    Ident::new(
        &format!("INSNS_{}", program.to_uppercase()),
        Span::call_site(),
    )
}

/// The identifier of a C struct type named `name` in the bindings.
pub fn type_ident(name: &str) -> Result<Ident, Refusal> {
    if RESERVED_TYPE_NAMES.contains(&name) {
        return Err(refuse(
            format!("is the name of a type the generated bindings use ({name})"),
            "rename the C struct (or typedef) in the ffi.cdef",
        ));
    }
    rust_ident(name)
}

/// What a named declaration is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A map (method `Probe::<name>`, an ELF object symbol).
    Map,
    /// A program (`Probe::attach_<name>`, `INSNS_<NAME>`, an ELF function symbol).
    Program,
}

impl Kind {
    fn what(self) -> &'static str {
        match self {
            Kind::Map => "map",
            Kind::Program => "program",
        }
    }
}

/// A named declaration: its kind, name, and where it was declared (for messages).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decl<'a> {
    /// Map or program.
    pub kind: Kind,
    /// The name the file gives it.
    pub name: &'a str,
    /// Where it is declared, as `file:line`.
    pub at: String,
}

/// Checks every map and program name of a file together; returns, for each refused one, its
/// index in `decls`, the message and a hint. Of two colliding names the one declared first (in
/// `decls` order) is kept and the later one refused.
pub fn check_decls(decls: &[Decl<'_>]) -> Vec<(usize, String, String)> {
    let mut out = Vec::new();
    for (i, d) in decls.iter().enumerate() {
        let name = d.name;
        let what = d.kind.what();
        if let Err(r) = rust_ident(name) {
            out.push((
                i,
                format!("{what} name {} {}", quoted(name), r.reason),
                r.hint,
            ));
            continue;
        }
        if d.kind == Kind::Map && PROBE_METHODS.contains(&name) {
            out.push((
                i,
                format!("map name `{name}` is taken by the generated method `Probe::{name}`"),
                "rename the map".into(),
            ));
            continue;
        }
        if d.kind == Kind::Program {
            let taken = PROBE_METHODS.iter().find(|m| {
                PROGRAM_METHOD_PREFIXES
                    .iter()
                    .any(|pre| m.strip_prefix(pre) == Some(name))
            });
            if let Some(m) = taken {
                out.push((
                    i,
                    format!("program name `{name}` would make the method `Probe::{m}`, which the generated bindings already have"),
                    "rename the program".into(),
                ));
                continue;
            }
        }
        for e in &decls[..i] {
            let other = e.name;
            let method_clash = |m: &str, p: &str| {
                PROGRAM_METHOD_PREFIXES
                    .iter()
                    .any(|pre| format!("{pre}{p}") == m)
            };
            let clash = match (d.kind, e.kind) {
                (Kind::Map, Kind::Map) if other == name => Some(format!(
                    "two maps are named `{name}` (the other is declared at {})",
                    e.at
                )),
                _ if other == name => Some(format!(
                    "{what} name `{name}` is already the name of the {} declared at {} (both would be the same ELF symbol)",
                    e.kind.what(),
                    e.at
                )),
                (Kind::Program, Kind::Program) if other.to_uppercase() == name.to_uppercase() => {
                    Some(format!(
                        "programs `{other}` (declared at {}) and `{name}` differ only in case, but both would make the static `INSNS_{}`",
                        e.at,
                        name.to_uppercase()
                    ))
                }
                (Kind::Map, Kind::Program) if method_clash(name, other) => Some(format!(
                    "map `{name}` and program `{other}` (declared at {}) would both make the method `Probe::{name}`",
                    e.at
                )),
                (Kind::Program, Kind::Map) if method_clash(other, name) => Some(format!(
                    "program `{name}` and map `{other}` (declared at {}) would both make the method `Probe::{other}`",
                    e.at
                )),
                _ => None,
            };
            if let Some(msg) = clash {
                out.push((i, msg, "rename one of them".into()));
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_keyword_is_raw_or_refused() {
        for k in RUST_KEYWORDS {
            match rust_ident(k) {
                Ok(id) => assert_eq!(id.to_string(), format!("r#{k}")),
                Err(_) => assert!(NEVER_IDENTIFIERS.contains(k), "{k}"),
            }
            // A prefixed method is always an ordinary identifier.
            syn::parse_str::<syn::Ident>(&method_ident("attach_", k).to_string()).unwrap();
            syn::parse_str::<syn::Ident>(&insns_ident(k).to_string()).unwrap();
        }
    }

    #[test]
    fn collisions_are_refused_later_one_first_kept() {
        let d = |kind, name| Decl {
            kind,
            name,
            at: "f.lua:1".into(),
        };
        let got = check_decls(&[
            d(Kind::Program, "foo"),
            d(Kind::Program, "FOO"),
            d(Kind::Map, "foo"),
            d(Kind::Map, "load"),
            d(Kind::Program, "all"),
            d(Kind::Map, "attach_foo"),
            d(Kind::Map, "self"),
            d(Kind::Map, ""),
            d(Kind::Map, "type"),
        ]);
        let idx: Vec<usize> = got.iter().map(|g| g.0).collect();
        assert_eq!(idx, vec![1, 2, 3, 4, 5, 6, 7], "{got:#?}");
    }

    #[test]
    fn quoting_escapes_line_breaks() {
        assert_eq!(quoted("a\ncargo:x"), "`a\\ncargo:x`");
    }
}
