//! C type model for the declarations of a probe file's `ffi.cdef[[ ... ]]` blocks.
//!
//! LuaJIT can tell us `ffi.sizeof`/`ffi.offsetof` of a named field, but it cannot enumerate the
//! fields of a struct, and the compiler needs all of them (to lower `ev.comm`, to generate
//! `#[repr(C)]` Rust structs for map keys and events). So we parse the cdef text ourselves and
//! compute the layout with the rules LuaJIT uses on x86-64 (`lj_cparse.c`, `cp_struct_layout`,
//! LuaJIT 2.1.1788856981), which are GCC's SysV x86-64 (LP64) rules: `long` and pointers are 8
//! bytes, plain `char` is signed. The lead asserts the results against LuaJIT's own `ffi.sizeof`
//! and `ffi.offsetof`, and the tests compare them with gcc.
//!
//! Supported: struct/union (named, anonymous, C11 anonymous members, nested, arrays including
//! multi-dimensional and a trailing `[]`, bitfields), `typedef`, `enum` (a 4-byte integer, unsigned
//! unless a constant is negative, as in LuaJIT `cp_decl_enum`), `static const` integer constants,
//! every C integer spelling, `<stdint.h>` and kernel (`u32`, `__be16`, ...) typedef names, `bool`,
//! pointers (function pointers become `void *`), `const`/`volatile` (ignored), comments, and
//! `__attribute__((packed))` / `__attribute__((aligned(N)))`. Floating point types are rejected:
//! BPF has no floating point.

use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;

/// A C type as the compiler sees it: only what BPF code can load, store or point at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CType {
    /// `void`: only meaningful behind a pointer.
    Void,
    /// `bool` / `_Bool`: one byte, 0 or 1.
    Bool,
    /// An integer of `size` bytes (1, 2, 4 or 8). `is_char` marks plain `char`, which C and LuaJIT
    /// keep distinct from `signed char`/`int8_t`: arrays of it are strings.
    Int {
        /// Size in bytes: 1, 2, 4 or 8.
        size: u8,
        /// Whether loads sign-extend.
        signed: bool,
        /// Plain `char` (not `signed char`/`unsigned char`).
        is_char: bool,
    },
    /// A pointer (8 bytes). Function pointers are `Pointer(Void)`.
    Pointer(Box<CType>),
    /// `T[n]`. A trailing flexible array member `T x[]` has `n == 0`.
    Array(Box<CType>, u32),
    /// A complete struct or union.
    Struct(Rc<StructDef>),
    /// A struct or union that was not complete where it was named: the pointee of a
    /// self-referential pointer (`struct node *next` inside `struct node`) or of a pointer to a
    /// forward-declared struct. Resolve it later with [`CTypes::struct_by_tag`]. It has no size,
    /// so it is only accepted behind a pointer.
    Opaque {
        /// The struct/union tag.
        name: String,
        /// `union` rather than `struct`.
        is_union: bool,
    },
}

/// The layout of one struct or union.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StructDef {
    /// The tag (`event_t` in `struct event_t`); `None` for an anonymous struct.
    pub name: Option<String>,
    /// For an anonymous struct, the first typedef that named it (`typedef struct {..} foo_t;`),
    /// so that diagnostics and generated code have a name to use.
    pub typedef_name: Option<String>,
    /// `union` rather than `struct`: all fields at offset 0.
    pub is_union: bool,
    /// Fields in declaration order. C11 anonymous struct/union members appear with an empty
    /// name; unnamed bitfields (padding, not members in C) are left out.
    pub fields: Vec<Field>,
    /// `sizeof`, padding included.
    pub size: u32,
    /// Alignment in bytes.
    pub align: u32,
}

/// One field of a [`StructDef`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The field name; empty for a C11 anonymous struct/union member.
    pub name: String,
    /// The declared type (for a bitfield: the integer type of its container).
    pub ty: CType,
    /// Byte offset from the start of the struct. For a bitfield: the offset of its container,
    /// a `ty.size()`-byte integer, as LuaJIT's `ffi.offsetof` reports it.
    pub offset: u32,
    /// For a bitfield: (bit offset from the least significant bit of the container, bit width).
    /// A bitfield that fills its naturally aligned container exactly is a plain field (`None`),
    /// as in LuaJIT.
    pub bits: Option<(u8, u8)>,
}

/// An error in cdef text or in a C type string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct CError {
    /// Line within the cdef text (or type string), 1-based.
    pub line: u32,
    /// What was wrong and what was expected.
    pub message: String,
}

/// Registry of everything declared by the cdef blocks seen so far: struct/union/enum tags,
/// typedefs, and integer constants (enumerators and `static const`).
///
/// Everything is kept in ordered maps or in declaration order: no hash order reaches output.
#[derive(Debug, Clone, Default)]
pub struct CTypes {
    /// Tag namespace (shared by struct, union and enum, as in C).
    tags: BTreeMap<String, Tag>,
    /// Every struct/union layout in the order its definition ended (nested ones first).
    structs: Vec<Rc<StructDef>>,
    typedefs: BTreeMap<String, CType>,
    typedef_order: Vec<String>,
    constants: BTreeMap<String, i64>,
}

#[derive(Debug, Clone)]
enum Tag {
    /// `def` is `None` while only forward-declared (or while its body is being parsed).
    Struct {
        is_union: bool,
        def: Option<Rc<StructDef>>,
    },
    Enum {
        signed: bool,
    },
}

/// Deepest nesting of declarators, parentheses and struct bodies accepted: bounds recursion so
/// that garbled input cannot overflow the stack.
const MAX_DEPTH: u32 = 100;

impl CType {
    /// `sizeof`: 0 for `void`, an opaque struct and a flexible array.
    pub fn size(&self) -> u32 {
        match self {
            CType::Void | CType::Opaque { .. } => 0,
            CType::Bool => 1,
            CType::Int { size, .. } => u32::from(*size),
            CType::Pointer(_) => 8,
            CType::Array(elem, n) => elem.size().saturating_mul(*n),
            CType::Struct(def) => def.size,
        }
    }

    /// Alignment in bytes (x86-64 SysV: the size for scalars).
    pub fn align(&self) -> u32 {
        match self {
            CType::Void | CType::Opaque { .. } | CType::Bool => 1,
            CType::Int { size, .. } => u32::from(*size),
            CType::Pointer(_) => 8,
            CType::Array(elem, _) => elem.align(),
            CType::Struct(def) => def.align,
        }
    }

    /// Whether the type is a signed integer (loads sign-extend).
    pub fn is_signed(&self) -> bool {
        matches!(self, CType::Int { signed: true, .. })
    }

    /// Whether the type is an integer or `bool` (what a bitfield may be, what BPF loads directly).
    pub fn is_integer(&self) -> bool {
        matches!(self, CType::Int { .. } | CType::Bool)
    }

    /// Whether the type is plain `char` (arrays of it are strings).
    pub fn is_char(&self) -> bool {
        matches!(self, CType::Int { is_char: true, .. })
    }

    /// The struct definition, if this is a (complete) struct or union.
    pub fn as_struct(&self) -> Option<&Rc<StructDef>> {
        match self {
            CType::Struct(def) => Some(def),
            _ => None,
        }
    }

    /// A field of a struct/union by name. Fields of C11 anonymous members are found too, and the
    /// returned field's `offset` is then relative to this struct (that is why it is returned by
    /// value). `None` if this is not a struct or has no such field.
    pub fn field(&self, name: &str) -> Option<Field> {
        self.as_struct().and_then(|def| def.field(name))
    }

    /// The C spelling of the type, as a user would write it in `ffi.typeof`: `struct event_t`,
    /// `uint32_t`, `char[16]`, `char *`, `char (*)[16]`. Integers are printed with their
    /// `<stdint.h>` name (`long` prints as `int64_t`); qualifiers are not kept.
    pub fn c_name(&self) -> String {
        self.c_decl(String::new())
    }

    /// Renders the type around a declarator text, inside out, as C's declarator syntax wants.
    fn c_decl(&self, inner: String) -> String {
        match self {
            CType::Pointer(t) => {
                let inner = if matches!(**t, CType::Array(..)) {
                    format!("(*{inner})")
                } else {
                    format!("*{inner}")
                };
                t.c_decl(inner)
            }
            CType::Array(t, n) => t.c_decl(format!("{inner}[{n}]")),
            base => {
                let name = base.base_name();
                if inner.is_empty() {
                    name
                } else if inner.starts_with('[') {
                    format!("{name}{inner}")
                } else {
                    format!("{name} {inner}")
                }
            }
        }
    }

    fn base_name(&self) -> String {
        match self {
            CType::Void => "void".into(),
            CType::Bool => "bool".into(),
            CType::Int { is_char: true, .. } => "char".into(),
            CType::Int { size, signed, .. } => {
                format!(
                    "{}int{}_t",
                    if *signed { "" } else { "u" },
                    u32::from(*size) * 8
                )
            }
            CType::Struct(def) => def.c_name(),
            CType::Opaque { name, is_union } => {
                format!("{} {name}", if *is_union { "union" } else { "struct" })
            }
            // Only reached through c_decl's base arm, which never sees these.
            CType::Pointer(_) | CType::Array(..) => self.c_name(),
        }
    }
}

impl fmt::Display for CType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.c_name())
    }
}

impl StructDef {
    /// `struct name`, `union name`, the typedef name of an anonymous struct, or
    /// `struct <anonymous>`.
    pub fn c_name(&self) -> String {
        let kw = if self.is_union { "union" } else { "struct" };
        match (&self.name, &self.typedef_name) {
            (Some(n), _) => format!("{kw} {n}"),
            (None, Some(t)) => t.clone(),
            (None, None) => format!("{kw} <anonymous>"),
        }
    }

    /// A field by name, looking into C11 anonymous members; the returned offset is relative to
    /// this struct.
    pub fn field(&self, name: &str) -> Option<Field> {
        if name.is_empty() {
            return None;
        }
        for f in &self.fields {
            if f.name == name {
                return Some(f.clone());
            }
            if f.name.is_empty() {
                if let Some(inner) = f.ty.field(name) {
                    return Some(Field {
                        offset: inner.offset.saturating_add(f.offset),
                        ..inner
                    });
                }
            }
        }
        None
    }

    /// Names of the members, anonymous members flattened: for "unknown field" diagnostics.
    pub fn field_names(&self) -> Vec<String> {
        let mut out = Vec::new();
        for f in &self.fields {
            if f.name.is_empty() {
                if let CType::Struct(inner) = &f.ty {
                    out.extend(inner.field_names());
                }
            } else {
                out.push(f.name.clone());
            }
        }
        out
    }
}

impl CTypes {
    /// An empty registry; the builtin integer typedef names are always known.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses declarations (the text of one `ffi.cdef[[ ... ]]`) and adds them to the registry.
    /// May be called many times; later blocks see earlier ones. On error nothing of this block
    /// is added. Function and variable declarations are accepted and ignored: they mean nothing
    /// in a BPF program.
    pub fn cdef(&mut self, src: &str) -> Result<(), CError> {
        let mut next = self.clone();
        let toks = lex(src)?;
        let mut p = Parser::new(toks, &mut next);
        p.translation_unit()?;
        *self = next;
        Ok(())
    }

    /// Parses a C type name as given to `ffi.typeof` or `bpf.map`: `uint32_t`,
    /// `unsigned long long`, `struct x`, `char[16]`, `uint8_t *`, `const char *`, `struct x[4]`.
    /// The registry is not changed (an anonymous `struct { .. }` in the string is allowed and
    /// stays local to the result).
    pub fn parse_type(&self, s: &str) -> Result<CType, CError> {
        let mut scratch = self.clone();
        let toks = lex(s)?;
        let mut p = Parser::new(toks, &mut scratch);
        let line = p.line();
        let spec = p.decl_spec()?;
        if spec.storage.is_some() {
            return Err(CError {
                line,
                message: "expected a type name, found a storage class (typedef/static/extern)"
                    .into(),
            });
        }
        let decl = p.declarator(DeclMode::Abstract)?;
        if !p.at_eof() {
            return Err(p.expected("end of type name"));
        }
        let ty = decl.apply(spec.ty, line)?;
        if ty.is_function {
            return Err(CError {
                line,
                message: "function types are not supported; use a function pointer".into(),
            });
        }
        if let CType::Opaque { .. } = &ty.ty {
            return Err(CError {
                line,
                message: format!(
                    "`{}` is an incomplete type: no ffi.cdef defines its body",
                    ty.ty.c_name()
                ),
            });
        }
        Ok(ty.ty)
    }

    /// Every struct/union layout in the order its definition ended (a nested struct comes
    /// before the struct containing it), for generating Rust types deterministically.
    pub fn structs(&self) -> impl Iterator<Item = &Rc<StructDef>> + '_ {
        self.structs.iter()
    }

    /// Typedefs in declaration order.
    pub fn typedefs(&self) -> impl Iterator<Item = (&str, &CType)> + '_ {
        self.typedef_order
            .iter()
            .filter_map(|n| self.typedefs.get(n).map(|t| (n.as_str(), t)))
    }

    /// The complete struct or union with this tag (to resolve a [`CType::Opaque`]).
    pub fn struct_by_tag(&self, name: &str) -> Option<Rc<StructDef>> {
        match self.tags.get(name) {
            Some(Tag::Struct { def, .. }) => def.clone(),
            _ => None,
        }
    }

    /// The type a typedef name stands for (user typedefs and builtin integer names).
    pub fn typedef(&self, name: &str) -> Option<CType> {
        self.typedefs
            .get(name)
            .cloned()
            .or_else(|| builtin_typedef(name))
    }

    /// The value of an enumerator or `static const` integer constant: probe code may use
    /// these as compile-time constants (`ffi.C.NAME`).
    pub fn constant(&self, name: &str) -> Option<i64> {
        self.constants.get(name).copied()
    }

    /// Replaces an [`CType::Opaque`] pointee (at any depth behind pointers and arrays) with its
    /// definition if that is now known.
    pub fn resolve(&self, ty: &CType) -> CType {
        match ty {
            CType::Opaque { name, .. } => match self.struct_by_tag(name) {
                Some(def) => CType::Struct(def),
                None => ty.clone(),
            },
            CType::Pointer(t) => CType::Pointer(Box::new(self.resolve(t))),
            CType::Array(t, n) => CType::Array(Box::new(self.resolve(t)), *n),
            other => other.clone(),
        }
    }
}

fn int(size: u8, signed: bool) -> CType {
    CType::Int {
        size,
        signed,
        is_char: false,
    }
}

/// Integer typedef names known without a cdef: `<stdint.h>`/`<stddef.h>` (LuaJIT predefines
/// these too, `lj_ctype.c`) and the kernel's `<linux/types.h>` spellings that tracepoint formats
/// and bcc probes use. LP64.
fn builtin_typedef(name: &str) -> Option<CType> {
    let (size, signed) = match name {
        "int8_t" | "s8" | "__s8" => (1, true),
        "uint8_t" | "u8" | "__u8" => (1, false),
        "int16_t" | "s16" | "__s16" => (2, true),
        "uint16_t" | "u16" | "__u16" | "__be16" | "__le16" | "__sum16" => (2, false),
        "int32_t" | "s32" | "__s32" | "wchar_t" => (4, true),
        "uint32_t" | "u32" | "__u32" | "__be32" | "__le32" | "__wsum" => (4, false),
        "int64_t" | "s64" | "__s64" | "intptr_t" | "ssize_t" | "ptrdiff_t" => (8, true),
        "uint64_t" | "u64" | "__u64" | "__be64" | "__le64" | "uintptr_t" | "size_t" => (8, false),
        _ => return None,
    };
    Some(int(size, signed))
}

// ---------------------------------------------------------------------------------------------
// Lexer

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Ident(String),
    Num(u64),
    Punct(&'static str),
    Eof,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    line: u32,
}

/// Multi-character punctuators first so that the longest match wins.
const PUNCTS: &[&str] = &[
    "...", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||", "->", "{", "}", "[", "]", "(", ")", ";",
    ",", "*", "=", ":", "+", "-", "~", "!", "/", "%", "&", "|", "^", "<", ">", "?", ".",
];

fn lex(src: &str) -> Result<Vec<Token>, CError> {
    let b = src.as_bytes();
    let mut i = 0usize;
    let mut line = 1u32;
    let mut at_line_start = true;
    let mut out = Vec::new();
    let err = |line: u32, message: String| CError { line, message };
    while i < b.len() {
        let c = b[i];
        if c == b'\n' {
            line = line.saturating_add(1);
            at_line_start = true;
            i += 1;
            continue;
        }
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if c == b'/' && b.get(i + 1) == Some(&b'*') {
            let start = line;
            i += 2;
            loop {
                match b.get(i) {
                    None => return Err(err(start, "unterminated /* comment".into())),
                    Some(b'*') if b.get(i + 1) == Some(&b'/') => {
                        i += 2;
                        break;
                    }
                    Some(b'\n') => {
                        line = line.saturating_add(1);
                        i += 1;
                    }
                    Some(_) => i += 1,
                }
            }
            continue;
        }
        if c == b'#' {
            let what = if at_line_start {
                "preprocessor directives are not supported in ffi.cdef (the text is not \
                 preprocessed); write plain declarations"
            } else {
                "unexpected character `#`"
            };
            return Err(err(line, what.into()));
        }
        at_line_start = false;
        if c.is_ascii_alphabetic() || c == b'_' || c == b'$' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'$') {
                i += 1;
            }
            let word = String::from_utf8_lossy(&b[start..i]).into_owned();
            out.push(Token {
                tok: Tok::Ident(word),
                line,
            });
            continue;
        }
        if c.is_ascii_digit() {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            let text = String::from_utf8_lossy(&b[start..i]).into_owned();
            let v = parse_number(&text)
                .ok_or_else(|| err(line, format!("invalid integer literal `{text}`")))?;
            out.push(Token {
                tok: Tok::Num(v),
                line,
            });
            continue;
        }
        if c == b'\'' || c == b'"' {
            return Err(err(
                line,
                "character and string literals are not supported in ffi.cdef here".into(),
            ));
        }
        let rest = &b[i..];
        match PUNCTS.iter().find(|p| rest.starts_with(p.as_bytes())) {
            Some(p) => {
                out.push(Token {
                    tok: Tok::Punct(p),
                    line,
                });
                i += p.len();
            }
            None => {
                let ch = src.get(i..).and_then(|s| s.chars().next()).unwrap_or('?');
                return Err(err(line, format!("unexpected character `{ch}`")));
            }
        }
    }
    out.push(Token {
        tok: Tok::Eof,
        line,
    });
    Ok(out)
}

/// Decimal, `0x` hex, `0` octal or `0b` binary, with any `u`/`l` suffix (ignored: constant
/// expressions are evaluated in 64 bits).
fn parse_number(text: &str) -> Option<u64> {
    let lower = text.to_ascii_lowercase();
    let digits = lower.trim_end_matches(['u', 'l']);
    let (radix, body) = if let Some(h) = digits.strip_prefix("0x") {
        (16, h)
    } else if let Some(bin) = digits.strip_prefix("0b") {
        (2, bin)
    } else if digits.len() > 1 && digits.starts_with('0') {
        (8, &digits[1..])
    } else {
        (10, digits)
    };
    if body.is_empty() {
        return None;
    }
    u64::from_str_radix(body, radix).ok()
}

// ---------------------------------------------------------------------------------------------
// Parser

#[derive(Debug, Clone, Copy, Default)]
struct Attrs {
    packed: bool,
    aligned: Option<u32>,
}

impl Attrs {
    fn merge(&mut self, o: Attrs) {
        self.packed |= o.packed;
        if let Some(a) = o.aligned {
            self.aligned = Some(self.aligned.map_or(a, |b| b.max(a)));
        }
    }
    fn any(&self) -> bool {
        self.packed || self.aligned.is_some()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Storage {
    Typedef,
    Static,
    Extern,
}

struct Spec {
    ty: CType,
    storage: Option<Storage>,
    attrs: Attrs,
    /// The specifier defined a tagged or anonymous struct/union/enum body (so `spec;` alone is
    /// meaningful).
    defined_body: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DeclMode {
    /// A name is required.
    Named,
    /// No name allowed (type names).
    Abstract,
    /// A name is optional (struct fields: `int : 3;`).
    Optional,
}

#[derive(Debug)]
enum Suffix {
    Array(Option<u32>),
    Function,
}

#[derive(Debug, Default)]
struct Declarator {
    name: Option<String>,
    line: u32,
    ptrs: usize,
    suffixes: Vec<Suffix>,
    inner: Option<Box<Declarator>>,
    attrs: Attrs,
}

struct Applied {
    ty: CType,
    /// The outermost derivation was a function: only a declaration of a function, ignored.
    is_function: bool,
}

impl Declarator {
    fn name(&self) -> Option<&str> {
        match &self.name {
            Some(n) => Some(n),
            None => self.inner.as_ref().and_then(|d| d.name()),
        }
    }

    fn all_attrs(&self) -> Attrs {
        let mut a = self.attrs;
        if let Some(inner) = &self.inner {
            a.merge(inner.all_attrs());
        }
        a
    }

    /// Builds the declared type from the specifier type, inside out (C's declarator rule:
    /// pointers bind looser than suffixes; a parenthesized declarator applies last).
    fn apply(&self, base: CType, line: u32) -> Result<Applied, CError> {
        let err = |message: &str| CError {
            line,
            message: message.into(),
        };
        let mut t = Applied {
            ty: base,
            is_function: false,
        };
        for _ in 0..self.ptrs {
            t = Applied {
                // A pointer to a function is opaque to BPF code: `void *`.
                ty: CType::Pointer(Box::new(if t.is_function { CType::Void } else { t.ty })),
                is_function: false,
            };
        }
        for s in self.suffixes.iter().rev() {
            match s {
                Suffix::Array(n) => {
                    if t.is_function {
                        return Err(err("array of functions is not valid C"));
                    }
                    match &t.ty {
                        CType::Void => return Err(err("array of void is not valid C")),
                        CType::Opaque { name, is_union } => {
                            return Err(err(&format!(
                                "array of incomplete type `{} {name}` (define it before use)",
                                if *is_union { "union" } else { "struct" }
                            )))
                        }
                        CType::Array(_, 0) => {
                            return Err(err("only the first dimension of an array may be empty"))
                        }
                        _ => {}
                    }
                    let n = n.unwrap_or(0);
                    if u64::from(t.ty.size()) * u64::from(n) > u64::from(u32::MAX) {
                        return Err(err("array is too large"));
                    }
                    t.ty = CType::Array(Box::new(t.ty), n);
                }
                Suffix::Function => {
                    if t.is_function {
                        return Err(err("a function cannot return a function"));
                    }
                    t = Applied {
                        ty: CType::Void,
                        is_function: true,
                    };
                }
            }
        }
        match &self.inner {
            Some(inner) => inner.apply(t.ty, line).map(|mut a| {
                a.is_function |= t.is_function && inner.ptrs == 0 && inner.suffixes.is_empty();
                a
            }),
            None => Ok(t),
        }
    }

    /// Whether an array dimension was left empty (`x[]`), anywhere.
    fn has_flexible(&self) -> bool {
        self.suffixes
            .iter()
            .any(|s| matches!(s, Suffix::Array(None)))
            || self.inner.as_ref().is_some_and(|d| d.has_flexible())
    }
}

struct FieldDecl {
    name: Option<String>,
    ty: CType,
    bits: Option<u32>,
    attrs: Attrs,
    line: u32,
}

struct Parser<'a> {
    toks: Vec<Token>,
    pos: usize,
    types: &'a mut CTypes,
    depth: u32,
}

const QUALIFIERS: &[&str] = &[
    "const",
    "volatile",
    "restrict",
    "__const",
    "__const__",
    "__volatile",
    "__volatile__",
    "__restrict",
    "__restrict__",
    "__extension__",
    "inline",
    "__inline",
    "__inline__",
    "register",
    "auto",
];

const INT_WORDS: &[&str] = &[
    "void",
    "bool",
    "_Bool",
    "char",
    "short",
    "int",
    "long",
    "signed",
    "__signed",
    "__signed__",
    "unsigned",
    "float",
    "double",
];

fn is_keyword(w: &str) -> bool {
    QUALIFIERS.contains(&w)
        || INT_WORDS.contains(&w)
        || matches!(
            w,
            "struct"
                | "union"
                | "enum"
                | "typedef"
                | "static"
                | "extern"
                | "sizeof"
                | "__attribute__"
                | "__attribute"
                | "_Alignof"
                | "__alignof__"
                | "alignof"
        )
}

impl<'a> Parser<'a> {
    fn new(toks: Vec<Token>, types: &'a mut CTypes) -> Self {
        Parser {
            toks,
            pos: 0,
            types,
            depth: 0,
        }
    }

    fn peek(&self) -> &Tok {
        self.peek_at(0)
    }

    fn peek_at(&self, n: usize) -> &Tok {
        self.toks
            .get(self.pos.saturating_add(n))
            .map_or(&Tok::Eof, |t| &t.tok)
    }

    fn line(&self) -> u32 {
        self.toks
            .get(self.pos)
            .or_else(|| self.toks.last())
            .map_or(1, |t| t.line)
    }

    fn bump(&mut self) -> Tok {
        let t = self.peek().clone();
        if self.pos < self.toks.len() {
            self.pos += 1;
        }
        t
    }

    fn at_eof(&self) -> bool {
        *self.peek() == Tok::Eof
    }

    fn is_punct(&self, p: &str) -> bool {
        matches!(self.peek(), Tok::Punct(q) if *q == p)
    }

    fn eat_punct(&mut self, p: &str) -> bool {
        if self.is_punct(p) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Tok::Ident(x) if x == w)
    }

    fn describe(t: &Tok) -> String {
        match t {
            Tok::Ident(w) => format!("`{w}`"),
            Tok::Num(n) => format!("`{n}`"),
            Tok::Punct(p) => format!("`{p}`"),
            Tok::Eof => "end of input".into(),
        }
    }

    fn expected(&self, what: &str) -> CError {
        CError {
            line: self.line(),
            message: format!("expected {what}, found {}", Self::describe(self.peek())),
        }
    }

    fn error(&self, line: u32, message: impl Into<String>) -> CError {
        CError {
            line,
            message: message.into(),
        }
    }

    fn expect_punct(&mut self, p: &str) -> Result<(), CError> {
        if self.eat_punct(p) {
            Ok(())
        } else {
            Err(self.expected(&format!("`{p}`")))
        }
    }

    fn enter(&mut self) -> Result<(), CError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            Err(self.error(self.line(), "declaration nested too deeply"))
        } else {
            Ok(())
        }
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    fn is_typedef_name(&self, w: &str) -> bool {
        self.types.typedefs.contains_key(w) || builtin_typedef(w).is_some()
    }

    /// Whether the current token can start a type name (for `sizeof(` and `(` disambiguation).
    fn starts_type(&self) -> bool {
        match self.peek() {
            Tok::Ident(w) => {
                QUALIFIERS.contains(&w.as_str())
                    || INT_WORDS.contains(&w.as_str())
                    || matches!(w.as_str(), "struct" | "union" | "enum")
                    || self.is_typedef_name(w)
            }
            _ => false,
        }
    }

    // --- declarations ---

    fn translation_unit(&mut self) -> Result<(), CError> {
        while !self.at_eof() {
            if self.eat_punct(";") {
                continue;
            }
            self.external_declaration()?;
        }
        Ok(())
    }

    fn external_declaration(&mut self) -> Result<(), CError> {
        let line = self.line();
        let spec = self.decl_spec()?;
        if self.eat_punct(";") {
            if spec.storage == Some(Storage::Typedef) {
                return Err(self.error(line, "typedef declares no name"));
            }
            return Ok(());
        }
        loop {
            let decl = self.declarator(DeclMode::Named)?;
            let dline = decl.line;
            let name = decl.name().unwrap_or_default().to_string();
            let attrs = decl.all_attrs();
            if decl.has_flexible() {
                return Err(self.error(dline, format!("`{name}`: array size missing")));
            }
            let applied = decl.apply(spec.ty.clone(), dline)?;
            match spec.storage {
                Some(Storage::Typedef) => {
                    if applied.is_function {
                        return Err(self.error(
                            dline,
                            format!("typedef `{name}`: function types are not supported; use a function pointer"),
                        ));
                    }
                    if attrs.any() || spec.attrs.any() {
                        return Err(self.error(
                            dline,
                            format!("typedef `{name}`: attributes on a typedef are not supported; put them on the struct"),
                        ));
                    }
                    self.add_typedef(&name, applied.ty, dline)?;
                }
                Some(Storage::Static) if !applied.is_function && self.is_punct("=") => {
                    // LuaJIT's way to declare constants: `static const int NAME = expr;`.
                    self.bump();
                    if !applied.ty.is_integer() {
                        return Err(self.error(
                            dline,
                            format!("constant `{name}`: only integer constants are supported"),
                        ));
                    }
                    let v = self.const_expr()?;
                    self.add_constant(&name, v, dline)?;
                }
                // Functions and variables: symbols, meaningless in BPF code. Ignored.
                _ => {}
            }
            if self.eat_punct(",") {
                continue;
            }
            if self.eat_punct(";") {
                return Ok(());
            }
            if self.is_punct("=") {
                return Err(self.error(
                    self.line(),
                    "initializers are only supported for `static const` integer constants",
                ));
            }
            return Err(self.expected("`,` or `;` after a declarator"));
        }
    }

    fn add_typedef(&mut self, name: &str, ty: CType, line: u32) -> Result<(), CError> {
        let existing = self.types.typedef(name);
        if let Some(old) = existing {
            if old == ty {
                return Ok(());
            }
            return Err(self.error(
                line,
                format!(
                    "conflicting typedef `{name}`: already `{}`, now `{}`",
                    old.c_name(),
                    ty.c_name()
                ),
            ));
        }
        if self.types.constants.contains_key(name) {
            return Err(self.error(line, format!("`{name}` is already a constant")));
        }
        // Give an anonymous struct the typedef's name, so it has one to be printed with.
        let ty = match ty {
            CType::Struct(def) if def.name.is_none() && def.typedef_name.is_none() => {
                let named = Rc::new(StructDef {
                    typedef_name: Some(name.to_string()),
                    ..(*def).clone()
                });
                if let Some(slot) = self.types.structs.iter_mut().find(|s| Rc::ptr_eq(s, &def)) {
                    *slot = named.clone();
                }
                CType::Struct(named)
            }
            other => other,
        };
        self.types.typedefs.insert(name.to_string(), ty);
        self.types.typedef_order.push(name.to_string());
        Ok(())
    }

    fn add_constant(&mut self, name: &str, v: i64, line: u32) -> Result<(), CError> {
        if self.is_typedef_name(name) {
            return Err(self.error(line, format!("`{name}` is already a typedef name")));
        }
        match self.types.constants.get(name) {
            Some(&old) if old != v => Err(self.error(
                line,
                format!("constant `{name}` redefined with value {v} (was {old})"),
            )),
            _ => {
                self.types.constants.insert(name.to_string(), v);
                Ok(())
            }
        }
    }

    /// Declaration specifiers: qualifiers, storage class, attributes and exactly one type.
    fn decl_spec(&mut self) -> Result<Spec, CError> {
        let line = self.line();
        let mut storage = None;
        let mut attrs = Attrs::default();
        let mut ty: Option<CType> = None;
        let mut defined_body = false;
        let mut words: Vec<String> = Vec::new();
        while let Tok::Ident(w) = self.peek() {
            let w = w.clone();
            if QUALIFIERS.contains(&w.as_str()) {
                self.bump();
            } else if let Some(s) = match w.as_str() {
                "typedef" => Some(Storage::Typedef),
                "static" => Some(Storage::Static),
                "extern" => Some(Storage::Extern),
                _ => None,
            } {
                if storage.is_some() {
                    return Err(self.error(self.line(), "more than one storage class"));
                }
                storage = Some(s);
                self.bump();
            } else if w == "__attribute__" || w == "__attribute" {
                let a = self.attributes()?;
                attrs.merge(a);
            } else if w == "struct" || w == "union" || w == "enum" {
                if ty.is_some() || !words.is_empty() {
                    return Err(self.error(self.line(), format!("unexpected `{w}` after a type")));
                }
                self.bump();
                let (t, body) = if w == "enum" {
                    self.enum_spec()?
                } else {
                    self.struct_spec(w == "union")?
                };
                defined_body = body;
                ty = Some(t);
            } else if INT_WORDS.contains(&w.as_str()) {
                if ty.is_some() {
                    return Err(self.error(self.line(), format!("unexpected `{w}` after a type")));
                }
                self.bump();
                words.push(w);
            } else if ty.is_none() && words.is_empty() && self.is_typedef_name(&w) {
                self.bump();
                ty = self.types.typedef(&w);
            } else {
                break;
            }
        }
        let ty = match (ty, words.is_empty()) {
            (Some(t), true) => t,
            (None, false) => int_from_words(&words).map_err(|m| self.error(line, m))?,
            (Some(_), false) => return Err(self.error(line, "more than one type in declaration")),
            (None, true) => {
                return Err(match self.peek() {
                    Tok::Ident(w) if !is_keyword(w) => self.error(
                        self.line(),
                        format!("unknown type name `{w}` (declare it with a typedef first)"),
                    ),
                    _ => self.expected("a type"),
                })
            }
        };
        Ok(Spec {
            ty,
            storage,
            attrs,
            defined_body,
        })
    }

    /// `__attribute__((a, b(...)))`, possibly repeated.
    fn attributes(&mut self) -> Result<Attrs, CError> {
        let mut attrs = Attrs::default();
        while self.is_word("__attribute__") || self.is_word("__attribute") {
            self.bump();
            self.expect_punct("(")?;
            self.expect_punct("(")?;
            loop {
                if self.is_punct(")") {
                    break;
                }
                let line = self.line();
                let name = match self.bump() {
                    Tok::Ident(w) => w,
                    _ => {
                        self.pos = self.pos.saturating_sub(1);
                        return Err(self.expected("an attribute name"));
                    }
                };
                match name.trim_matches('_') {
                    "packed" => attrs.packed = true,
                    "aligned" => {
                        let n = if self.eat_punct("(") {
                            let v = self.const_expr()?;
                            self.expect_punct(")")?;
                            v
                        } else {
                            // GCC: the largest alignment of any type on the target (x86-64: 16).
                            16
                        };
                        if !(1..=(1 << 16)).contains(&n) || n & (n - 1) != 0 {
                            return Err(self.error(
                                line,
                                format!("aligned({n}): alignment must be a power of two"),
                            ));
                        }
                        let n = n as u32;
                        attrs.aligned = Some(attrs.aligned.map_or(n, |a| a.max(n)));
                    }
                    // Attributes that do not change layout.
                    "unused" | "used" | "may_alias" | "deprecated" | "aligned_noop" => {
                        if self.is_punct("(") {
                            self.skip_balanced()?;
                        }
                    }
                    other => {
                        return Err(self.error(
                            line,
                            format!(
                                "unsupported attribute `{other}` (supported: packed, aligned(N))"
                            ),
                        ))
                    }
                }
                if !self.eat_punct(",") {
                    break;
                }
            }
            self.expect_punct(")")?;
            self.expect_punct(")")?;
        }
        Ok(attrs)
    }

    /// Skips a parenthesized group, nesting included (function parameter lists).
    fn skip_balanced(&mut self) -> Result<(), CError> {
        let line = self.line();
        self.expect_punct("(")?;
        let mut level = 1u32;
        while level > 0 {
            match self.bump() {
                Tok::Punct("(") => level += 1,
                Tok::Punct(")") => level -= 1,
                Tok::Eof => return Err(self.error(line, "unclosed `(`")),
                _ => {}
            }
        }
        Ok(())
    }

    /// `struct`/`union` already consumed. Returns the type and whether a body was given.
    fn struct_spec(&mut self, is_union: bool) -> Result<(CType, bool), CError> {
        let kw = if is_union { "union" } else { "struct" };
        let line = self.line();
        let mut attrs = self.attributes()?;
        let name = match self.peek() {
            Tok::Ident(w) if !is_keyword(w) => {
                let w = w.clone();
                self.bump();
                Some(w)
            }
            _ => None,
        };
        attrs.merge(self.attributes()?);
        if let Some(n) = &name {
            match self.types.tags.get(n) {
                None => {
                    // Declares the tag (forward declaration, or the start of its definition so
                    // that the body can point at itself).
                    self.types.tags.insert(
                        n.clone(),
                        Tag::Struct {
                            is_union,
                            def: None,
                        },
                    );
                }
                Some(Tag::Struct { is_union: u, .. }) if *u == is_union => {}
                Some(_) => {
                    return Err(self.error(
                        line,
                        format!("`{n}` was declared before as a different kind of tag than `{kw}`"),
                    ))
                }
            }
        }
        if !self.is_punct("{") {
            let Some(n) = name else {
                return Err(self.expected(&format!("a {kw} name or `{{`")));
            };
            let ty = match self.types.struct_by_tag(&n) {
                Some(def) => CType::Struct(def),
                None => CType::Opaque { name: n, is_union },
            };
            return Ok((ty, false));
        }
        self.bump();
        self.enter()?;
        let mut decls = Vec::new();
        while !self.eat_punct("}") {
            if self.at_eof() {
                return Err(self.error(line, format!("unclosed `{kw}` body (missing `}}`)")));
            }
            if self.eat_punct(";") {
                continue;
            }
            self.field_declaration(&mut decls)?;
        }
        self.leave();
        attrs.merge(self.attributes()?);
        let def = layout(line, name.clone(), is_union, decls, attrs)
            .map_err(|(l, m)| self.error(l, m))?;
        let def = match &name {
            Some(n) => {
                if let Some(Tag::Struct { def: Some(old), .. }) = self.types.tags.get(n) {
                    if **old == def {
                        return Ok((CType::Struct(old.clone()), true));
                    }
                    return Err(
                        self.error(line, format!("`{kw} {n}` redefined with a different body"))
                    );
                }
                let def = Rc::new(def);
                self.types.tags.insert(
                    n.clone(),
                    Tag::Struct {
                        is_union,
                        def: Some(def.clone()),
                    },
                );
                def
            }
            None => Rc::new(def),
        };
        self.types.structs.push(def.clone());
        Ok((CType::Struct(def), true))
    }

    fn field_declaration(&mut self, out: &mut Vec<FieldDecl>) -> Result<(), CError> {
        let line = self.line();
        let spec = self.decl_spec()?;
        if spec.storage.is_some() {
            return Err(self.error(
                line,
                "storage class (typedef/static/extern) in a struct body",
            ));
        }
        if self.eat_punct(";") {
            // C11 anonymous struct/union member.
            if spec.defined_body && matches!(&spec.ty, CType::Struct(d) if d.name.is_none()) {
                out.push(FieldDecl {
                    name: None,
                    ty: spec.ty,
                    bits: None,
                    attrs: spec.attrs,
                    line,
                });
                return Ok(());
            }
            if spec.defined_body {
                // `struct inner { .. };` nested in a body only declares the tag, as in C.
                return Ok(());
            }
            return Err(self.error(
                line,
                "declaration does not declare a field (missing field name?)",
            ));
        }
        loop {
            let decl = self.declarator(DeclMode::Optional)?;
            let dline = decl.line;
            let name = decl.name().map(str::to_string);
            let applied = decl.apply(spec.ty.clone(), dline)?;
            let label = name.as_deref().unwrap_or("<unnamed>");
            if applied.is_function {
                return Err(self.error(
                    dline,
                    format!("field `{label}` has function type; use a function pointer"),
                ));
            }
            let bits = if self.eat_punct(":") {
                let bline = self.line();
                let w = self.const_expr()?;
                if !applied.ty.is_integer() {
                    return Err(self.error(
                        bline,
                        format!(
                            "bitfield `{label}` must have an integer type, not `{}`",
                            applied.ty.c_name()
                        ),
                    ));
                }
                // LuaJIT limits bitfields to types of at most 32 bits and `bool` to one bit
                // (`lj_cparse.c`, CTBSZ_MAX); GCC is more liberal, LuaJIT decides.
                if applied.ty.size() > 4 {
                    return Err(self.error(
                        bline,
                        format!("bitfield `{label}`: LuaJIT supports bitfields of at most 32-bit types, not `{}`", applied.ty.c_name()),
                    ));
                }
                let max = if applied.ty == CType::Bool {
                    1
                } else {
                    i64::from(applied.ty.size()) * 8
                };
                if !(0..=max).contains(&w) {
                    return Err(self.error(
                        bline,
                        format!("bitfield `{label}` width {w} is out of range 0..={max}"),
                    ));
                }
                if w == 0 && name.is_some() {
                    return Err(
                        self.error(bline, format!("named bitfield `{label}` has zero width"))
                    );
                }
                Some(w as u32)
            } else {
                if name.is_none() {
                    return Err(self.expected("a field name"));
                }
                None
            };
            let mut attrs = spec.attrs;
            attrs.merge(decl.all_attrs());
            attrs.merge(self.attributes()?);
            out.push(FieldDecl {
                name,
                ty: applied.ty,
                bits,
                attrs,
                line: dline,
            });
            if self.eat_punct(",") {
                continue;
            }
            if self.eat_punct(";") {
                return Ok(());
            }
            return Err(self.expected("`,` or `;` after a field"));
        }
    }

    /// `enum` already consumed.
    fn enum_spec(&mut self) -> Result<(CType, bool), CError> {
        let line = self.line();
        self.attributes()?;
        let name = match self.peek() {
            Tok::Ident(w) if !is_keyword(w) => {
                let w = w.clone();
                self.bump();
                Some(w)
            }
            _ => None,
        };
        self.attributes()?;
        if !self.eat_punct("{") {
            let Some(n) = name else {
                return Err(self.expected("an enum name or `{`"));
            };
            return match self.types.tags.get(&n) {
                Some(Tag::Enum { signed }) => Ok((int(4, *signed), false)),
                Some(Tag::Struct { .. }) => Err(self.error(
                    line,
                    format!("`{n}` was declared before as a struct/union, not an enum"),
                )),
                None => Err(self.error(line, format!("unknown enum `{n}` (define it first)"))),
            };
        }
        let mut next: i64 = 0;
        let mut signed = false;
        loop {
            if self.eat_punct("}") {
                break;
            }
            let cline = self.line();
            let cname = match self.bump() {
                Tok::Ident(w) if !is_keyword(&w) => w,
                _ => {
                    self.pos = self.pos.saturating_sub(1);
                    return Err(self.expected("an enumerator name"));
                }
            };
            if self.eat_punct("=") {
                next = self.const_expr()?;
                if next < 0 {
                    signed = true;
                }
            }
            if !(i64::from(i32::MIN)..=i64::from(u32::MAX)).contains(&next) {
                return Err(self.error(
                    cline,
                    format!("enumerator `{cname}` = {next} does not fit in 32 bits"),
                ));
            }
            self.add_constant(&cname, next, cline)?;
            next = next.saturating_add(1);
            if !self.eat_punct(",") {
                self.expect_punct("}")?;
                break;
            }
        }
        self.attributes()?;
        if let Some(n) = &name {
            match self.types.tags.get(n) {
                Some(Tag::Enum { signed: s }) if *s == signed => {}
                None => {
                    self.types.tags.insert(n.clone(), Tag::Enum { signed });
                }
                Some(_) => {
                    return Err(self.error(line, format!("enum `{n}` redefined differently")))
                }
            }
        }
        Ok((int(4, signed), true))
    }

    /// A (possibly abstract) declarator: `*name`, `name[4][2]`, `(*name)[8]`, `(*)(int)`.
    fn declarator(&mut self, mode: DeclMode) -> Result<Declarator, CError> {
        self.enter()?;
        let r = self.declarator_inner(mode);
        self.leave();
        r
    }

    fn declarator_inner(&mut self, mode: DeclMode) -> Result<Declarator, CError> {
        let mut d = Declarator {
            line: self.line(),
            ..Declarator::default()
        };
        loop {
            if self.eat_punct("*") {
                d.ptrs += 1;
            } else if matches!(self.peek(), Tok::Ident(w) if QUALIFIERS.contains(&w.as_str())) {
                self.bump();
            } else if self.is_word("__attribute__") || self.is_word("__attribute") {
                let a = self.attributes()?;
                d.attrs.merge(a);
            } else {
                break;
            }
        }
        // Direct declarator.
        let nested = self.is_punct("(")
            && match self.peek_at(1) {
                Tok::Punct(p) => *p == "*" || *p == "(" || *p == "[",
                Tok::Ident(w) => {
                    mode != DeclMode::Abstract && !is_keyword(w) && !self.is_typedef_name(w)
                }
                _ => false,
            };
        if nested {
            self.bump();
            let inner = self.declarator(mode)?;
            self.expect_punct(")")?;
            d.inner = Some(Box::new(inner));
        } else if let Tok::Ident(w) = self.peek() {
            if !is_keyword(w) {
                if mode == DeclMode::Abstract {
                    return Err(self.error(
                        self.line(),
                        format!("unexpected name `{w}` in a type name (expected a type like `uint32_t`, `struct x`, `char[16]`)"),
                    ));
                }
                d.name = Some(w.clone());
                d.line = self.line();
                self.bump();
            }
        }
        if mode == DeclMode::Named && d.name().is_none() {
            return Err(self.expected("a name"));
        }
        loop {
            if self.eat_punct("[") {
                if self.eat_punct("]") {
                    d.suffixes.push(Suffix::Array(None));
                    continue;
                }
                let line = self.line();
                let n = self.const_expr()?;
                self.expect_punct("]")?;
                let n = u32::try_from(n)
                    .map_err(|_| self.error(line, format!("invalid array size {n}")))?;
                d.suffixes.push(Suffix::Array(Some(n)));
            } else if self.is_punct("(") {
                self.skip_balanced()?;
                d.suffixes.push(Suffix::Function);
            } else if self.is_word("__attribute__") || self.is_word("__attribute") {
                let a = self.attributes()?;
                d.attrs.merge(a);
            } else {
                break;
            }
        }
        Ok(d)
    }

    // --- constant expressions (array sizes, enum values, bitfield widths) ---

    fn const_expr(&mut self) -> Result<i64, CError> {
        self.enter()?;
        let r = self.ternary();
        self.leave();
        r
    }

    fn ternary(&mut self) -> Result<i64, CError> {
        let c = self.binary(0)?;
        if self.eat_punct("?") {
            let a = self.const_expr()?;
            self.expect_punct(":")?;
            let b = self.const_expr()?;
            return Ok(if c != 0 { a } else { b });
        }
        Ok(c)
    }

    /// The binary operator at the current token and its C precedence (higher binds tighter).
    fn binary_op(&self) -> Option<(&'static str, u8)> {
        let Tok::Punct(p) = self.peek() else {
            return None;
        };
        let prec = match *p {
            "||" => 1,
            "&&" => 2,
            "|" => 3,
            "^" => 4,
            "&" => 5,
            "==" | "!=" => 6,
            "<" | ">" | "<=" | ">=" => 7,
            "<<" | ">>" => 8,
            "+" | "-" => 9,
            "*" | "/" | "%" => 10,
            _ => return None,
        };
        Some((p, prec))
    }

    /// Precedence climbing over C's binary operators.
    fn binary(&mut self, min_prec: u8) -> Result<i64, CError> {
        let mut lhs = self.unary()?;
        while let Some((op, prec)) = self.binary_op() {
            if prec < min_prec {
                break;
            }
            let line = self.line();
            self.bump();
            self.enter()?;
            let rhs = self.binary(prec + 1);
            self.leave();
            let rhs = rhs?;
            lhs = match op {
                "||" => i64::from(lhs != 0 || rhs != 0),
                "&&" => i64::from(lhs != 0 && rhs != 0),
                "|" => lhs | rhs,
                "^" => lhs ^ rhs,
                "&" => lhs & rhs,
                "==" => i64::from(lhs == rhs),
                "!=" => i64::from(lhs != rhs),
                "<" => i64::from(lhs < rhs),
                ">" => i64::from(lhs > rhs),
                "<=" => i64::from(lhs <= rhs),
                ">=" => i64::from(lhs >= rhs),
                "<<" => lhs.wrapping_shl((rhs & 63) as u32),
                ">>" => lhs.wrapping_shr((rhs & 63) as u32),
                "+" => lhs.wrapping_add(rhs),
                "-" => lhs.wrapping_sub(rhs),
                "*" => lhs.wrapping_mul(rhs),
                "/" | "%" => {
                    if rhs == 0 {
                        return Err(self.error(line, "division by zero in constant expression"));
                    }
                    if op == "/" {
                        lhs.wrapping_div(rhs)
                    } else {
                        lhs.wrapping_rem(rhs)
                    }
                }
                other => {
                    return Err(self.error(line, format!("internal: operator `{other}` unhandled")))
                }
            };
        }
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<i64, CError> {
        self.enter()?;
        let r = self.unary_inner();
        self.leave();
        r
    }

    fn unary_inner(&mut self) -> Result<i64, CError> {
        let line = self.line();
        match self.peek().clone() {
            Tok::Punct("-") => {
                self.bump();
                Ok(self.unary()?.wrapping_neg())
            }
            Tok::Punct("+") => {
                self.bump();
                self.unary()
            }
            Tok::Punct("~") => {
                self.bump();
                Ok(!self.unary()?)
            }
            Tok::Punct("!") => {
                self.bump();
                Ok(i64::from(self.unary()? == 0))
            }
            Tok::Punct("(") => {
                self.bump();
                if self.starts_type() {
                    return Err(self.error(line, "casts are not supported in constant expressions"));
                }
                let v = self.const_expr()?;
                self.expect_punct(")")?;
                Ok(v)
            }
            Tok::Num(n) => {
                self.bump();
                // Wraps like C's unsigned long long literals above i64::MAX.
                Ok(n as i64)
            }
            Tok::Ident(w) => {
                if matches!(
                    w.as_str(),
                    "sizeof" | "_Alignof" | "__alignof__" | "alignof"
                ) {
                    self.bump();
                    self.expect_punct("(")?;
                    let tline = self.line();
                    let spec = self.decl_spec()?;
                    let decl = self.declarator(DeclMode::Abstract)?;
                    self.expect_punct(")")?;
                    let t = decl.apply(spec.ty, tline)?.ty;
                    return Ok(i64::from(if w == "sizeof" { t.size() } else { t.align() }));
                }
                match self.types.constant(&w) {
                    Some(v) => {
                        self.bump();
                        Ok(v)
                    }
                    None => Err(self.error(
                        line,
                        format!("unknown constant `{w}` in constant expression"),
                    )),
                }
            }
            _ => Err(self.expected("a constant expression")),
        }
    }
}

/// Combines integer keywords (`unsigned long long int`, `signed char`, `_Bool`...) into a type.
fn int_from_words(words: &[String]) -> Result<CType, String> {
    let count = |w: &str| words.iter().filter(|x| x.as_str() == w).count();
    let signed = count("signed") + count("__signed") + count("__signed__");
    let unsigned = count("unsigned");
    let (chars, shorts, ints, longs) = (count("char"), count("short"), count("int"), count("long"));
    let (void, bools) = (count("void"), count("bool") + count("_Bool"));
    let spelled = words.join(" ");
    if count("float") + count("double") > 0 {
        return Err(format!(
            "`{spelled}`: floating point types are not supported (BPF has no floating point)"
        ));
    }
    let bad = || format!("invalid type `{spelled}`");
    if signed + unsigned > 1 || chars > 1 || shorts > 1 || ints > 1 || longs > 2 {
        return Err(bad());
    }
    let sign_given = signed + unsigned == 1;
    if void + bools > 0 {
        if words.len() != 1 {
            return Err(bad());
        }
        return Ok(if void == 1 { CType::Void } else { CType::Bool });
    }
    let size = match (chars, shorts, longs) {
        (1, 0, 0) if ints == 0 => 1,
        (0, 1, 0) => 2,
        (0, 0, 0) => 4,
        (0, 0, 1 | 2) => 8,
        _ => return Err(bad()),
    };
    if size == 1 && !sign_given {
        // Plain char: signed on x86-64, but a distinct type.
        return Ok(CType::Int {
            size: 1,
            signed: true,
            is_char: true,
        });
    }
    Ok(int(size, unsigned == 0))
}

/// Lays out a struct or union with LuaJIT's `cp_struct_layout` rules (x86-64). Offsets are
/// tracked in bits because of bitfields.
fn layout(
    line: u32,
    name: Option<String>,
    is_union: bool,
    decls: Vec<FieldDecl>,
    sattrs: Attrs,
) -> Result<StructDef, (u32, String)> {
    let mut bofs: u64 = 0;
    let mut bmax: u64 = 0;
    let mut maxalign: u64 = u64::from(sattrs.aligned.unwrap_or(1));
    let mut fields = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let count = decls.len();
    for (i, d) in decls.into_iter().enumerate() {
        let label = d.name.clone().unwrap_or_else(|| "<unnamed>".into());
        match &d.ty {
            CType::Void => return Err((d.line, format!("field `{label}` has type void"))),
            CType::Opaque { name, is_union } => {
                return Err((
                    d.line,
                    format!(
                        "field `{label}` has incomplete type `{} {name}` (define it first, or use a pointer)",
                        if *is_union { "union" } else { "struct" }
                    ),
                ))
            }
            CType::Array(_, 0) if i + 1 != count && !is_union => {
                return Err((
                    d.line,
                    format!("flexible array `{label}[]` must be the last field"),
                ))
            }
            _ => {}
        }
        let sz = u64::from(d.ty.size());
        let mut csz = 8 * sz;
        let mut align = u64::from(d.ty.align());
        let packed = d.attrs.packed || sattrs.packed;
        let field_aligned = d.attrs.aligned.map(u64::from);
        if packed {
            align = field_aligned.unwrap_or(1);
        } else if let Some(a) = field_aligned {
            align = align.max(a);
        }
        let amask = 8 * align - 1;
        // Zero-width bitfields do not raise the struct's alignment (LuaJIT and GCC agree).
        if d.bits != Some(0) && align > maxalign {
            maxalign = align;
        }
        let (offset, bits, ty, bsz);
        match d.bits {
            None => {
                bofs = (bofs + amask) & !amask;
                offset = bofs / 8;
                bits = None;
                ty = d.ty;
                bsz = csz;
            }
            Some(w) => {
                let w = u64::from(w);
                if w == 0 || field_aligned.is_some() || (!packed && (bofs & amask) + w > csz) {
                    bofs = (bofs + amask) & !amask;
                }
                if w == csz && bofs & amask == 0 {
                    // "Prefer regular field over bitfield."
                    offset = bofs / 8;
                    bits = None;
                    ty = d.ty;
                } else {
                    let mut ty2 = d.ty;
                    if csz > amask + 1 && w <= amask + 1 {
                        // "Shrink container of packed bitfield."
                        csz = amask + 1;
                        if let CType::Int { signed, .. } = ty2 {
                            ty2 = int((csz / 8) as u8, signed);
                        }
                    }
                    offset = (bofs & !(csz - 1)) / 8;
                    bits = Some(((bofs & (csz - 1)) as u8, w as u8));
                    ty = ty2;
                }
                bsz = w;
            }
        }
        if is_union {
            bmax = bmax.max(bsz);
        } else {
            bofs += bsz;
        }
        if bofs > u64::from(u32::MAX) * 8 || bmax > u64::from(u32::MAX) * 8 {
            return Err((d.line, "struct is too large".into()));
        }
        if d.bits != Some(0) && (d.name.is_some() || d.bits.is_none()) {
            let new_names = match (&d.name, &ty) {
                (Some(n), _) => vec![n.clone()],
                (None, CType::Struct(inner)) => inner.field_names(),
                (None, _) => Vec::new(),
            };
            for n in new_names {
                if names.contains(&n) {
                    return Err((d.line, format!("duplicate field `{n}`")));
                }
                names.push(n);
            }
            fields.push(Field {
                name: d.name.unwrap_or_default(),
                ty,
                offset: u32::try_from(offset).unwrap_or(u32::MAX),
                bits,
            });
        }
    }
    let end = if is_union { bmax } else { bofs };
    let amask = 8 * maxalign - 1;
    let size = ((end + amask) & !amask) / 8;
    let size = u32::try_from(size).map_err(|_| (line, "struct is too large".to_string()))?;
    let def = StructDef {
        name,
        typedef_name: None,
        is_union,
        fields,
        size,
        align: u32::try_from(maxalign).unwrap_or(u32::MAX),
    };
    Ok(def)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cdef(src: &str) -> CTypes {
        let mut t = CTypes::new();
        if let Err(e) = t.cdef(src) {
            panic!("cdef failed: {e}\n{src}");
        }
        t
    }

    #[test]
    fn int_spellings() {
        let t = CTypes::new();
        for (s, size, signed) in [
            ("char", 1, true),
            ("signed char", 1, true),
            ("unsigned char", 1, false),
            ("short", 2, true),
            ("unsigned short int", 2, false),
            ("int", 4, true),
            ("unsigned", 4, false),
            ("long", 8, true),
            ("long int", 8, true),
            ("unsigned long", 8, false),
            ("long long", 8, true),
            ("unsigned long long int", 8, false),
            ("long unsigned int", 8, false),
            ("uint32_t", 4, false),
            ("__be16", 2, false),
            ("size_t", 8, false),
            ("ssize_t", 8, true),
            ("const volatile int", 4, true),
        ] {
            let ty = t.parse_type(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!((ty.size(), ty.is_signed()), (size, signed), "{s}");
        }
        assert!(t.parse_type("long long long").is_err());
        assert!(t.parse_type("signed unsigned").is_err());
        assert!(t.parse_type("double").is_err());
    }

    #[test]
    fn c_names() {
        let t = cdef("struct e { int a; };");
        for (s, n) in [
            ("char[16]", "char[16]"),
            ("const char *", "char *"),
            ("unsigned long", "uint64_t"),
            ("struct e", "struct e"),
            ("struct e[4]", "struct e[4]"),
            ("char (*)[16]", "char (*)[16]"),
            ("int *[3]", "int32_t *[3]"),
            ("uint8_t **", "uint8_t **"),
            ("int[2][3]", "int32_t[2][3]"),
        ] {
            assert_eq!(
                t.parse_type(s).map(|t| t.c_name()),
                Ok(n.to_string()),
                "{s}"
            );
        }
    }

    #[test]
    fn bitfields() {
        let t = cdef("struct b { unsigned a:3, b:5; unsigned c:30; unsigned d:32; char e; };");
        let s = t.parse_type("struct b").unwrap_or(CType::Void);
        assert_eq!(
            s.field("a").map(|f| (f.offset, f.bits)),
            Some((0, Some((0, 3))))
        );
        assert_eq!(
            s.field("b").map(|f| (f.offset, f.bits)),
            Some((0, Some((3, 5))))
        );
        assert_eq!(
            s.field("c").map(|f| (f.offset, f.bits)),
            Some((4, Some((0, 30))))
        );
        assert_eq!(s.field("d").map(|f| (f.offset, f.bits)), Some((8, None)));
        assert_eq!(s.field("e").map(|f| f.offset), Some(12));
        assert_eq!(s.size(), 16);
    }
}
