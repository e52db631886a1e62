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
//!
//! One job per file: this module is the public model ([`CType`], [`StructDef`], [`Field`]) and the
//! registry [`CTypes`]; `lex` tokenizes, `parse` drives declarations, `specifier` and
//! `declarator` parse the two halves of a C declaration, `expr` evaluates constant expressions,
//! and `layout` computes struct/union layouts.

mod declarator;
mod expr;
mod layout;
mod lex;
mod parse;
mod specifier;

use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;

use declarator::DeclMode;
use lex::lex;
use parse::Parser;

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
    /// How deeply structs nest in it, itself included (1 for a struct without struct members):
    /// at most [`MAX_DEPTH`], so that walks over types stay shallow.
    pub depth: u32,
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

/// Deepest nesting of declarators, parentheses and struct bodies accepted, and of structs
/// inside structs: bounds recursion so that garbled or hostile input cannot overflow the stack.
pub const MAX_DEPTH: u32 = 100;

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

    /// How deeply structs nest in the type (0 for a scalar; behind pointers and in arrays
    /// too): what [`StructDef::depth`] bounds.
    pub fn depth(&self) -> u32 {
        match self {
            CType::Struct(def) => def.depth,
            CType::Pointer(t) | CType::Array(t, _) => t.depth(),
            CType::Void | CType::Bool | CType::Int { .. } | CType::Opaque { .. } => 0,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `src` into a fresh registry; panics with the source on an error.
    pub(super) fn cdef(src: &str) -> CTypes {
        let mut t = CTypes::new();
        if let Err(e) = t.cdef(src) {
            panic!("cdef failed: {e}\n{src}");
        }
        t
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
}
