//! A reader for raw BTF, the kernel's compact type information (`/sys/kernel/btf/vmlinux`).
//!
//! The format is the kernel's `include/uapi/linux/btf.h` and `Documentation/bpf/btf.rst`
//! ("2. BTF Type and String Encoding"): a `struct btf_header`, then a type section of
//! variable-length `struct btf_type` records (type ids count from 1 in section order; id 0 is
//! `void`) and a string section of NUL-terminated names (offset 0 is the empty string).
//!
//! The input may be hostile (a user-supplied `--btf FILE`): every length, offset and type
//! reference is checked while parsing, so the accessors after it cannot index out of bounds,
//! and every walk along type references is bounded by [`MAX_DEPTH`] so reference cycles end in
//! an error. Nothing here panics on any input.
//!
//! Longer than 800 lines on purpose: each BTF kind's record layout sits next to the checks that
//! make its later accessors safe, and the hostile-input tests next to both.

use std::collections::HashMap;
use std::fmt::Write as _;

/// `BTF_MAGIC` (btf.h).
const MAGIC: u16 = 0xeb9f;
/// The only BTF version there is.
const VERSION: u8 = 1;
/// `sizeof(struct btf_header)` of version 1; `hdr_len` may be larger (later fields we skip).
const HEADER_LEN: usize = 24;
/// How many references (typedef → const → ...) a walk follows before calling it a cycle. Real
/// kernels need fewer than 10; btf.c's `MAX_RESOLVE_DEPTH` is 32.
pub const MAX_DEPTH: u32 = 32;

/// `BTF_INT_SIGNED` (btf.h): bit of an INT's encoding.
pub const INT_SIGNED: u8 = 1;
/// `BTF_INT_CHAR`.
pub const INT_CHAR: u8 = 2;
/// `BTF_INT_BOOL`.
pub const INT_BOOL: u8 = 4;

/// Errors reading BTF or walking its types.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BtfError {
    /// Not BTF, or a version we do not know.
    #[error("not BTF: {0}")]
    BadHeader(String),
    /// The data ends before a record it announces.
    #[error("truncated BTF: {0}")]
    Truncated(String),
    /// A record is malformed (bad kind, reference or string offset).
    #[error("malformed BTF type {id}: {message}")]
    Malformed {
        /// The type id of the record (or the next id, for a record that could not be read).
        id: u32,
        /// What is wrong.
        message: String,
    },
    /// A walk along type references did not end within [`MAX_DEPTH`] steps.
    #[error("BTF type {0}: reference chain too long (a cycle?)")]
    TooDeep(u32),
    /// A type has no size (void, a function, a forward declaration).
    #[error("BTF type {id} ({kind}) has no size")]
    NoSize {
        /// The type id.
        id: u32,
        /// Its kind name.
        kind: &'static str,
    },
}

/// One member of a struct or union.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Offset of the name in the string section (0: anonymous).
    pub name_off: u32,
    /// The member's type id.
    pub type_id: u32,
    /// Offset from the start of the struct in bits.
    pub bit_offset: u32,
    /// Bitfield width in bits; 0 for a member that is not a bitfield. Only known when the
    /// struct's `kind_flag` is set (btf.rst 2.2.4); otherwise an INT member's own
    /// `BTF_INT_BITS` says it, and this is 0.
    pub bitfield_size: u8,
}

/// One parameter of a function prototype.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// Offset of the name in the string section (0: unnamed).
    pub name_off: u32,
    /// The parameter's type id (0 as the last parameter: `...`).
    pub type_id: u32,
}

/// One variable of a data section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecInfo {
    /// The VAR's type id.
    pub type_id: u32,
    /// Offset in the section.
    pub offset: u32,
    /// Size in bytes.
    pub size: u32,
}

/// What a type is, with the data that follows its `struct btf_type` (btf.rst 2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// `BTF_KIND_INT`: `size` bytes; encoding bits [`INT_SIGNED`], [`INT_CHAR`], [`INT_BOOL`].
    Int {
        /// Size in bytes.
        size: u32,
        /// `BTF_INT_ENCODING`.
        encoding: u8,
        /// `BTF_INT_OFFSET`: bit offset of the value (bitfields in old encoders).
        offset: u8,
        /// `BTF_INT_BITS`: number of value bits.
        bits: u8,
    },
    /// `BTF_KIND_PTR` to `type_id`.
    Ptr {
        /// Pointee.
        type_id: u32,
    },
    /// `BTF_KIND_ARRAY`.
    Array {
        /// Element type.
        elem: u32,
        /// Index type (unused by C layout).
        index: u32,
        /// Number of elements.
        len: u32,
    },
    /// `BTF_KIND_STRUCT`.
    Struct {
        /// Size in bytes.
        size: u32,
        /// Members in declaration order.
        members: Vec<Member>,
    },
    /// `BTF_KIND_UNION`.
    Union {
        /// Size in bytes.
        size: u32,
        /// Members in declaration order.
        members: Vec<Member>,
    },
    /// `BTF_KIND_ENUM` (values up to 32 bits) or `BTF_KIND_ENUM64`.
    Enum {
        /// Size in bytes.
        size: u32,
        /// `kind_flag`: the enum's values are signed.
        signed: bool,
        /// Whether it was an ENUM64 record.
        is64: bool,
        /// `(name offset, value)` pairs.
        values: Vec<(u32, i64)>,
    },
    /// `BTF_KIND_FWD`: a declared but not defined struct (or union, `kind_flag`).
    Fwd {
        /// A forward union rather than struct.
        is_union: bool,
    },
    /// `BTF_KIND_TYPEDEF` of `type_id`.
    Typedef {
        /// The aliased type.
        type_id: u32,
    },
    /// `BTF_KIND_VOLATILE`.
    Volatile {
        /// The qualified type.
        type_id: u32,
    },
    /// `BTF_KIND_CONST`.
    Const {
        /// The qualified type.
        type_id: u32,
    },
    /// `BTF_KIND_RESTRICT`.
    Restrict {
        /// The qualified type.
        type_id: u32,
    },
    /// `BTF_KIND_FUNC`: a function with a prototype.
    Func {
        /// The FUNC_PROTO.
        proto: u32,
        /// `vlen`: linkage (0 static, 1 global, 2 extern).
        linkage: u16,
    },
    /// `BTF_KIND_FUNC_PROTO`.
    FuncProto {
        /// Return type (0: void).
        ret: u32,
        /// Parameters in order.
        params: Vec<Param>,
    },
    /// `BTF_KIND_VAR`.
    Var {
        /// The variable's type.
        type_id: u32,
        /// `btf_var.linkage`.
        linkage: u32,
    },
    /// `BTF_KIND_DATASEC`.
    Datasec {
        /// Size of the section.
        size: u32,
        /// The variables it holds.
        vars: Vec<SecInfo>,
    },
    /// `BTF_KIND_FLOAT` of `size` bytes.
    Float {
        /// Size in bytes.
        size: u32,
    },
    /// `BTF_KIND_DECL_TAG`: an attribute string (the type's name) on a declaration.
    DeclTag {
        /// The tagged type, variable or function.
        type_id: u32,
        /// -1 for the declaration itself, else the member or parameter index.
        component_idx: i32,
    },
    /// `BTF_KIND_TYPE_TAG`: an attribute on a pointee type (`__user` as `user`).
    TypeTag {
        /// The tagged type.
        type_id: u32,
    },
}

impl Kind {
    /// The kind's name as btf.rst spells it (`STRUCT`, `TYPEDEF`).
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Int { .. } => "INT",
            Kind::Ptr { .. } => "PTR",
            Kind::Array { .. } => "ARRAY",
            Kind::Struct { .. } => "STRUCT",
            Kind::Union { .. } => "UNION",
            Kind::Enum { is64: false, .. } => "ENUM",
            Kind::Enum { is64: true, .. } => "ENUM64",
            Kind::Fwd { .. } => "FWD",
            Kind::Typedef { .. } => "TYPEDEF",
            Kind::Volatile { .. } => "VOLATILE",
            Kind::Const { .. } => "CONST",
            Kind::Restrict { .. } => "RESTRICT",
            Kind::Func { .. } => "FUNC",
            Kind::FuncProto { .. } => "FUNC_PROTO",
            Kind::Var { .. } => "VAR",
            Kind::Datasec { .. } => "DATASEC",
            Kind::Float { .. } => "FLOAT",
            Kind::DeclTag { .. } => "DECL_TAG",
            Kind::TypeTag { .. } => "TYPE_TAG",
        }
    }

    /// Every type id this record refers to (for validation).
    fn refs(&self) -> Vec<u32> {
        match self {
            Kind::Int { .. } | Kind::Fwd { .. } | Kind::Float { .. } | Kind::Enum { .. } => {
                Vec::new()
            }
            Kind::Ptr { type_id }
            | Kind::Typedef { type_id }
            | Kind::Volatile { type_id }
            | Kind::Const { type_id }
            | Kind::Restrict { type_id }
            | Kind::Var { type_id, .. }
            | Kind::DeclTag { type_id, .. }
            | Kind::TypeTag { type_id } => vec![*type_id],
            Kind::Array { elem, index, .. } => vec![*elem, *index],
            Kind::Struct { members, .. } | Kind::Union { members, .. } => {
                members.iter().map(|m| m.type_id).collect()
            }
            Kind::Func { proto, .. } => vec![*proto],
            Kind::FuncProto { ret, params } => std::iter::once(*ret)
                .chain(params.iter().map(|p| p.type_id))
                .collect(),
            Kind::Datasec { vars, .. } => vars.iter().map(|v| v.type_id).collect(),
        }
    }
}

/// One type record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Type {
    /// Offset of the name in the string section (0: anonymous).
    pub name_off: u32,
    /// The kind and its data.
    pub kind: Kind,
}

/// Parsed BTF: types by id and names.
#[derive(Debug, Clone)]
pub struct Btf {
    /// `types[id - 1]` is type `id`.
    types: Vec<Type>,
    /// The string section (every offset a type uses is checked to start a NUL-terminated
    /// UTF-8 string in it).
    strings: Vec<u8>,
    /// Type ids by name, in id order. Only used for look-ups, never iterated into output.
    by_name: HashMap<Box<str>, Vec<u32>>,
}

/// A little-endian or big-endian reader over a byte slice that fails instead of panicking.
struct Reader<'a> {
    bytes: &'a [u8],
    big: bool,
}

impl Reader<'_> {
    fn u32_at(&self, pos: usize) -> Option<u32> {
        let b: [u8; 4] = self.bytes.get(pos..pos.checked_add(4)?)?.try_into().ok()?;
        Some(if self.big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    }
}

impl Btf {
    /// Parses raw BTF (`/sys/kernel/btf/vmlinux`, or the `.BTF` section of an object file).
    /// Either byte order is accepted (the magic says which).
    pub fn parse(bytes: &[u8]) -> Result<Btf, BtfError> {
        let magic = bytes
            .get(0..2)
            .ok_or_else(|| BtfError::Truncated("no header".into()))?;
        let big = if magic == MAGIC.to_le_bytes() {
            false
        } else if magic == MAGIC.to_be_bytes() {
            true
        } else {
            return Err(BtfError::BadHeader(format!(
                "magic {magic:02x?}, expected 0xeb9f"
            )));
        };
        let r = Reader { bytes, big };
        if bytes.len() < HEADER_LEN {
            return Err(BtfError::Truncated(format!(
                "{} bytes, the header alone is {HEADER_LEN}",
                bytes.len()
            )));
        }
        if bytes[2] != VERSION {
            return Err(BtfError::BadHeader(format!("version {}", bytes[2])));
        }
        let hdr = |pos| r.u32_at(pos).unwrap_or(0) as usize;
        let hdr_len = hdr(4);
        if hdr_len < HEADER_LEN {
            return Err(BtfError::BadHeader(format!("hdr_len {hdr_len}")));
        }
        // btf.rst 2.1: the section offsets count from the end of the header.
        let section = |off: usize, len: usize, what: &str| {
            let start = hdr_len.checked_add(off);
            let end = start.and_then(|s| s.checked_add(len));
            match (start, end) {
                (Some(s), Some(e)) if e <= bytes.len() => Ok(s..e),
                _ => Err(BtfError::Truncated(format!(
                    "{what} section {off}+{len} after a {hdr_len}-byte header, file is {} bytes",
                    bytes.len()
                ))),
            }
        };
        let type_range = section(hdr(8), hdr(12), "type")?;
        let str_range = section(hdr(16), hdr(20), "string")?;
        let strings = bytes[str_range].to_vec();
        if strings.first().is_some_and(|&b| b != 0) {
            return Err(BtfError::BadHeader(
                "the string section does not start with the empty string".into(),
            ));
        }
        let types = parse_types(&Reader {
            bytes: &bytes[type_range],
            big,
        })?;
        let mut btf = Btf {
            types,
            strings,
            by_name: HashMap::new(),
        };
        btf.validate()?;
        for (i, t) in btf.types.iter().enumerate() {
            if t.name_off != 0 {
                let name = btf.str_at(t.name_off);
                // `i + 1` fits: the count of types is bounded by the input size / 12.
                let id = u32::try_from(i + 1).unwrap_or(u32::MAX);
                btf.by_name.entry(name.into()).or_default().push(id);
            }
        }
        Ok(btf)
    }

    /// Reads and parses a BTF file.
    pub fn from_file(path: &std::path::Path) -> Result<Btf, String> {
        let bytes =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Btf::parse(&bytes).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Checks every type reference and name offset, so that later accessors can trust them.
    fn validate(&self) -> Result<(), BtfError> {
        let n = self.types.len();
        for (i, t) in self.types.iter().enumerate() {
            let id = u32::try_from(i + 1).unwrap_or(u32::MAX);
            let bad = |message: String| BtfError::Malformed { id, message };
            self.check_str(t.name_off).map_err(&bad)?;
            for r in t.kind.refs() {
                if r as usize > n {
                    return Err(bad(format!("refers to type {r}, there are {n}")));
                }
            }
            let names: Vec<u32> = match &t.kind {
                Kind::Struct { members, .. } | Kind::Union { members, .. } => {
                    members.iter().map(|m| m.name_off).collect()
                }
                Kind::FuncProto { params, .. } => params.iter().map(|p| p.name_off).collect(),
                Kind::Enum { values, .. } => values.iter().map(|v| v.0).collect(),
                _ => Vec::new(),
            };
            for off in names {
                self.check_str(off).map_err(&bad)?;
            }
        }
        Ok(())
    }

    fn check_str(&self, off: u32) -> Result<(), String> {
        let tail = self
            .strings
            .get(off as usize..)
            .ok_or_else(|| format!("name offset {off} is past the string section"))?;
        let end = tail
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| format!("name at {off} is not NUL-terminated"))?;
        std::str::from_utf8(&tail[..end])
            .map(|_| ())
            .map_err(|_| format!("name at {off} is not UTF-8"))
    }

    /// The string at a (validated) offset; "" for anything else.
    pub fn str_at(&self, off: u32) -> &str {
        let tail = self.strings.get(off as usize..).unwrap_or_default();
        let end = tail.iter().position(|&b| b == 0).unwrap_or(0);
        std::str::from_utf8(&tail[..end]).unwrap_or_default()
    }

    /// Number of types (the largest id).
    pub fn len(&self) -> u32 {
        u32::try_from(self.types.len()).unwrap_or(u32::MAX)
    }

    /// Whether there are no types at all.
    pub fn is_empty(&self) -> bool {
        self.types.is_empty()
    }

    /// The type with this id (`None` for 0, `void`, and ids past the end).
    pub fn get(&self, id: u32) -> Option<&Type> {
        self.types.get((id as usize).checked_sub(1)?)
    }

    /// The name of a type ("" for anonymous types and void).
    pub fn name(&self, id: u32) -> &str {
        self.get(id).map_or("", |t| self.str_at(t.name_off))
    }

    /// All ids of types called `name`, in id order.
    pub fn ids_named(&self, name: &str) -> &[u32] {
        self.by_name.get(name).map_or(&[], |v| v.as_slice())
    }

    /// The first type called `name` whose kind `pred` accepts.
    pub fn find(&self, name: &str, pred: impl Fn(&Kind) -> bool) -> Option<u32> {
        self.ids_named(name)
            .iter()
            .copied()
            .find(|&id| self.get(id).is_some_and(|t| pred(&t.kind)))
    }

    /// The first STRUCT called `name`.
    pub fn find_struct(&self, name: &str) -> Option<u32> {
        self.find(name, |k| matches!(k, Kind::Struct { .. }))
    }

    /// The prototype of the FUNC called `name`.
    pub fn func_proto(&self, name: &str) -> Option<(u32, &[Param])> {
        let f = self.find(name, |k| matches!(k, Kind::Func { .. }))?;
        let Some(Type {
            kind: Kind::Func { proto, .. },
            ..
        }) = self.get(f)
        else {
            return None;
        };
        match &self.get(*proto)?.kind {
            Kind::FuncProto { params, .. } => Some((*proto, params.as_slice())),
            _ => None,
        }
    }

    /// Follows typedefs, qualifiers and type tags to the underlying type id.
    pub fn skip_aliases(&self, mut id: u32) -> Result<u32, BtfError> {
        for _ in 0..MAX_DEPTH {
            match self.get(id).map(|t| &t.kind) {
                Some(
                    Kind::Typedef { type_id }
                    | Kind::Volatile { type_id }
                    | Kind::Const { type_id }
                    | Kind::Restrict { type_id }
                    | Kind::TypeTag { type_id },
                ) => id = *type_id,
                _ => return Ok(id),
            }
        }
        Err(BtfError::TooDeep(id))
    }

    /// `sizeof` the type, as the C compiler saw it.
    pub fn size_of(&self, id: u32) -> Result<u32, BtfError> {
        self.size_of_depth(id, 0)
    }

    fn size_of_depth(&self, id: u32, depth: u32) -> Result<u32, BtfError> {
        if depth > MAX_DEPTH {
            return Err(BtfError::TooDeep(id));
        }
        let id = self.skip_aliases(id)?;
        let Some(t) = self.get(id) else {
            return Err(BtfError::NoSize { id, kind: "void" });
        };
        match &t.kind {
            Kind::Int { size, .. }
            | Kind::Struct { size, .. }
            | Kind::Union { size, .. }
            | Kind::Enum { size, .. }
            | Kind::Datasec { size, .. }
            | Kind::Float { size } => Ok(*size),
            // BTF describes the target; every BPF and 64-bit host target has 8-byte pointers.
            Kind::Ptr { .. } => Ok(8),
            Kind::Array { elem, len, .. } => {
                let e = self.size_of_depth(*elem, depth + 1)?;
                e.checked_mul(*len).ok_or(BtfError::Malformed {
                    id,
                    message: format!("array of {len} × {e} bytes overflows"),
                })
            }
            Kind::Var { type_id, .. } => self.size_of_depth(*type_id, depth + 1),
            k => Err(BtfError::NoSize { id, kind: k.name() }),
        }
    }

    /// Whether a value of the type is signed, as the kernel's `is_signed_type()` computes it
    /// (include/linux/compiler.h): signed integers and signed enums are; pointers, unsigned and
    /// (with `-funsigned-char`, Linux 6.2+) plain `char`, floats excepted, and aggregates are not.
    pub fn is_signed(&self, id: u32) -> Result<bool, BtfError> {
        let id = self.skip_aliases(id)?;
        Ok(match self.get(id).map(|t| &t.kind) {
            Some(Kind::Int { encoding, .. }) => encoding & INT_SIGNED != 0,
            Some(Kind::Enum { signed, .. }) => *signed,
            Some(Kind::Float { .. }) => true,
            _ => false,
        })
    }

    /// The C spelling of a type, as a declaration without a name: `const char *`,
    /// `unsigned long`, `struct task_struct *`, `pid_t`. Arrays render as their element type
    /// followed by the dimensions (`char[16]`). DWARF's integer names (`long unsigned int`) are
    /// given the usual C spelling (`unsigned long`) the kernel sources use.
    pub fn c_type(&self, id: u32) -> Result<String, BtfError> {
        let mut out = String::new();
        self.c_type_into(id, &mut out, 0)?;
        Ok(out)
    }

    fn c_type_into(&self, id: u32, out: &mut String, depth: u32) -> Result<(), BtfError> {
        if depth > MAX_DEPTH {
            return Err(BtfError::TooDeep(id));
        }
        let Some(t) = self.get(id) else {
            out.push_str("void");
            return Ok(());
        };
        let name = self.str_at(t.name_off);
        match &t.kind {
            Kind::Int { .. } => out.push_str(c_int_name(name)),
            Kind::Float { .. } | Kind::Typedef { .. } => out.push_str(name),
            Kind::Struct { .. } | Kind::Fwd { is_union: false } => {
                let _ = write!(out, "struct {}", anon(name));
            }
            Kind::Union { .. } | Kind::Fwd { is_union: true } => {
                let _ = write!(out, "union {}", anon(name));
            }
            Kind::Enum { .. } => {
                let _ = write!(out, "enum {}", anon(name));
            }
            Kind::Ptr { type_id } => {
                self.c_type_into(*type_id, out, depth + 1)?;
                // `const char *` for a pointer to const char; `T *const` would need the
                // qualifier after the star, which the CONST-on-PTR case below writes.
                out.push_str(" *");
            }
            Kind::Const { type_id } | Kind::Volatile { type_id } | Kind::Restrict { type_id } => {
                let q = match t.kind {
                    Kind::Const { .. } => "const",
                    Kind::Volatile { .. } => "volatile",
                    _ => "restrict",
                };
                let target = self.get(*type_id).map(|t| &t.kind);
                if matches!(target, Some(Kind::Ptr { .. })) {
                    self.c_type_into(*type_id, out, depth + 1)?;
                    let _ = write!(out, "{q}");
                } else {
                    let _ = write!(out, "{q} ");
                    self.c_type_into(*type_id, out, depth + 1)?;
                }
            }
            Kind::TypeTag { type_id } => self.c_type_into(*type_id, out, depth + 1)?,
            Kind::Array { elem, len, .. } => {
                self.c_type_into(*elem, out, depth + 1)?;
                let _ = write!(out, "[{len}]");
            }
            Kind::FuncProto { .. } => out.push_str("void (*)()"),
            k => {
                let _ = write!(out, "{} {name}", k.name());
            }
        }
        Ok(())
    }

    /// The type with every typedef, qualifier and tag removed at every level, as text: two
    /// types are compatible in C when these agree (used to compare prototypes).
    pub fn canonical(&self, id: u32) -> Result<String, BtfError> {
        let mut out = String::new();
        self.canonical_into(id, &mut out, 0)?;
        Ok(out)
    }

    fn canonical_into(&self, id: u32, out: &mut String, depth: u32) -> Result<(), BtfError> {
        if depth > MAX_DEPTH {
            return Err(BtfError::TooDeep(id));
        }
        let id = self.skip_aliases(id)?;
        let Some(t) = self.get(id) else {
            out.push_str("void");
            return Ok(());
        };
        match &t.kind {
            Kind::Ptr { type_id } => {
                self.canonical_into(*type_id, out, depth + 1)?;
                out.push('*');
            }
            Kind::Array { elem, len, .. } => {
                self.canonical_into(*elem, out, depth + 1)?;
                let _ = write!(out, "[{len}]");
            }
            Kind::FuncProto { ret, params } => {
                self.canonical_into(*ret, out, depth + 1)?;
                out.push('(');
                for p in params {
                    self.canonical_into(p.type_id, out, depth + 1)?;
                    out.push(',');
                }
                out.push(')');
            }
            // Forward declarations and definitions of a struct are the same type.
            Kind::Fwd { is_union } => {
                let _ = write!(
                    out,
                    "{} {}",
                    if *is_union { "union" } else { "struct" },
                    self.str_at(t.name_off)
                );
            }
            Kind::Struct { .. } | Kind::Union { .. } | Kind::Enum { .. } if t.name_off == 0 => {
                // Anonymous aggregates are only equal to themselves.
                let _ = write!(out, "#{id}");
            }
            _ => {
                self.c_type_into(id, out, depth + 1)?;
            }
        }
        Ok(())
    }
}

fn anon(name: &str) -> &str {
    if name.is_empty() {
        "(anon)"
    } else {
        name
    }
}

/// DWARF base type names (what BTF INT records carry) in the spelling of C sources.
fn c_int_name(dwarf: &str) -> &str {
    match dwarf {
        "long unsigned int" => "unsigned long",
        "long int" => "long",
        "long long unsigned int" => "unsigned long long",
        "long long int" => "long long",
        "short unsigned int" => "unsigned short",
        "short int" => "short",
        other => other,
    }
}

/// Parses the type section into records (ids 1, 2, ... in order).
fn parse_types(r: &Reader<'_>) -> Result<Vec<Type>, BtfError> {
    let mut types = Vec::new();
    let mut pos = 0usize;
    while pos < r.bytes.len() {
        let id = u32::try_from(types.len() + 1).unwrap_or(u32::MAX);
        let at = pos;
        let trunc =
            move || BtfError::Truncated(format!("type {id} at byte {at} of the type section"));
        let word = |p: usize| r.u32_at(p).ok_or_else(trunc);
        let name_off = word(pos)?;
        let info = word(pos + 4)?;
        let size_or_type = word(pos + 8)?;
        pos += 12;
        // btf.h: bits 0-15 vlen, 24-28 kind, 31 kind_flag.
        let vlen = (info & 0xffff) as usize;
        let kind_no = (info >> 24) & 0x1f;
        let kflag = info >> 31 == 1;
        let bad = |message: String| BtfError::Malformed { id, message };
        // Each record's trailing data: `vlen` entries of `stride` bytes.
        let take = |pos: &mut usize, stride: usize| -> Result<usize, BtfError> {
            let start = *pos;
            let len = vlen.checked_mul(stride).ok_or_else(trunc)?;
            let end = start.checked_add(len).ok_or_else(trunc)?;
            if end > r.bytes.len() {
                return Err(trunc());
            }
            *pos = end;
            Ok(start)
        };
        let kind = match kind_no {
            1 => {
                let s = pos;
                pos += 4;
                let v = word(s)?;
                let (encoding, offset, bits) = ((v >> 24) as u8 & 0x0f, (v >> 16) as u8, v as u8);
                if size_or_type == 0 || size_or_type > 16 {
                    return Err(bad(format!("INT of {size_or_type} bytes")));
                }
                Kind::Int {
                    size: size_or_type,
                    encoding,
                    offset,
                    bits,
                }
            }
            2 => Kind::Ptr {
                type_id: size_or_type,
            },
            3 => {
                let s = pos;
                pos += 12;
                Kind::Array {
                    elem: word(s)?,
                    index: word(s + 4)?,
                    len: word(s + 8)?,
                }
            }
            4 | 5 => {
                let start = take(&mut pos, 12)?;
                let mut members = Vec::with_capacity(vlen);
                for i in 0..vlen {
                    let p = start + i * 12;
                    let off = word(p + 8)?;
                    // btf.rst 2.2.4: with kind_flag, the offset word holds the bitfield size in
                    // its top 8 bits and the bit offset in the low 24.
                    let (bit_offset, bitfield_size) = if kflag {
                        (off & 0x00ff_ffff, (off >> 24) as u8)
                    } else {
                        (off, 0)
                    };
                    members.push(Member {
                        name_off: word(p)?,
                        type_id: word(p + 4)?,
                        bit_offset,
                        bitfield_size,
                    });
                }
                if kind_no == 4 {
                    Kind::Struct {
                        size: size_or_type,
                        members,
                    }
                } else {
                    Kind::Union {
                        size: size_or_type,
                        members,
                    }
                }
            }
            6 | 19 => {
                let stride = if kind_no == 6 { 8 } else { 12 };
                let start = take(&mut pos, stride)?;
                let mut values = Vec::with_capacity(vlen);
                for i in 0..vlen {
                    let p = start + i * stride;
                    let v = if kind_no == 6 {
                        // `btf_enum.val` is an __s32 (sign by kind_flag for printing only).
                        let v = word(p + 4)?;
                        if kflag {
                            i64::from(v as i32)
                        } else {
                            i64::from(v)
                        }
                    } else {
                        let lo = u64::from(word(p + 4)?);
                        let hi = u64::from(word(p + 8)?);
                        (hi << 32 | lo) as i64
                    };
                    values.push((word(p)?, v));
                }
                if !matches!(size_or_type, 1 | 2 | 4 | 8) {
                    return Err(bad(format!("enum of {size_or_type} bytes")));
                }
                Kind::Enum {
                    size: size_or_type,
                    signed: kflag,
                    is64: kind_no == 19,
                    values,
                }
            }
            7 => Kind::Fwd { is_union: kflag },
            8 => Kind::Typedef {
                type_id: size_or_type,
            },
            9 => Kind::Volatile {
                type_id: size_or_type,
            },
            10 => Kind::Const {
                type_id: size_or_type,
            },
            11 => Kind::Restrict {
                type_id: size_or_type,
            },
            12 => Kind::Func {
                proto: size_or_type,
                linkage: vlen as u16,
            },
            13 => {
                let start = take(&mut pos, 8)?;
                let mut params = Vec::with_capacity(vlen);
                for i in 0..vlen {
                    let p = start + i * 8;
                    params.push(Param {
                        name_off: word(p)?,
                        type_id: word(p + 4)?,
                    });
                }
                Kind::FuncProto {
                    ret: size_or_type,
                    params,
                }
            }
            14 => {
                let s = pos;
                pos += 4;
                Kind::Var {
                    type_id: size_or_type,
                    linkage: word(s)?,
                }
            }
            15 => {
                let start = take(&mut pos, 12)?;
                let mut vars = Vec::with_capacity(vlen);
                for i in 0..vlen {
                    let p = start + i * 12;
                    vars.push(SecInfo {
                        type_id: word(p)?,
                        offset: word(p + 4)?,
                        size: word(p + 8)?,
                    });
                }
                Kind::Datasec {
                    size: size_or_type,
                    vars,
                }
            }
            16 => Kind::Float { size: size_or_type },
            17 => {
                let s = pos;
                pos += 4;
                Kind::DeclTag {
                    type_id: size_or_type,
                    component_idx: word(s)? as i32,
                }
            }
            18 => Kind::TypeTag {
                type_id: size_or_type,
            },
            k => return Err(bad(format!("unknown kind {k}"))),
        };
        if pos > r.bytes.len() {
            return Err(trunc());
        }
        types.push(Type { name_off, kind });
    }
    Ok(types)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Little-endian BTF from type records (as u32 words) and a string section.
    fn build(types: &[u32], strings: &[u8]) -> Vec<u8> {
        let type_len = (types.len() * 4) as u32;
        let mut out = Vec::new();
        for w in [
            u32::from(MAGIC) | u32::from(VERSION) << 16,
            HEADER_LEN as u32,
            0,
            type_len,
            type_len,
            strings.len() as u32,
        ] {
            out.extend_from_slice(&w.to_le_bytes());
        }
        for w in types {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out.extend_from_slice(strings);
        out
    }

    fn info(kind: u32, vlen: u32, kflag: bool) -> u32 {
        kind << 24 | vlen | u32::from(kflag) << 31
    }

    /// `int` (1), `struct s { int a; int b:3; }` with kind_flag (2), `typedef struct s t` (3),
    /// `const t` (4), `t *` (5), `char[16]`-like array of int (6), a signed enum (7).
    fn sample() -> Vec<u8> {
        let strings = b"\0int\0s\0a\0b\0t\0e\0X\0";
        #[rustfmt::skip]
        let types = [
            1, info(1, 0, false), 4, 0x0100_0020,       // [1] INT int, signed, 32 bits
            5, info(4, 2, true), 8,                    // [2] STRUCT s (kind_flag)
                7, 1, 0,                               //     a: int @0
                9, 1, 3 << 24 | 32,                    //     b: int :3 @32
            11, info(8, 0, false), 2,                  // [3] TYPEDEF t -> 2
            0, info(10, 0, false), 3,                  // [4] CONST -> 3
            0, info(2, 0, false), 4,                   // [5] PTR -> 4
            0, info(3, 0, false), 0, 1, 1, 16,         // [6] ARRAY int[16]
            13, info(6, 1, true), 4, 15, 0xffff_ffff,  // [7] ENUM e { X = -1 } signed
        ];
        build(&types, strings)
    }

    #[test]
    fn reads_kinds_sizes_and_names() {
        let btf = Btf::parse(&sample()).expect("parses");
        assert_eq!(btf.len(), 7);
        assert_eq!(btf.find_struct("s"), Some(2));
        let Some(Type {
            kind: Kind::Struct { members, .. },
            ..
        }) = btf.get(2)
        else {
            panic!("struct")
        };
        assert_eq!((members[1].bit_offset, members[1].bitfield_size), (32, 3));
        assert_eq!(btf.size_of(3), Ok(8));
        assert_eq!(btf.size_of(5), Ok(8));
        assert_eq!(btf.size_of(6), Ok(64));
        assert_eq!(btf.is_signed(1), Ok(true));
        assert_eq!(btf.is_signed(7), Ok(true));
        assert_eq!(btf.c_type(5).as_deref(), Ok("const t *"));
        assert_eq!(btf.c_type(6).as_deref(), Ok("int[16]"));
        assert_eq!(btf.canonical(5).as_deref(), Ok("struct s*"));
        let Some(Type {
            kind: Kind::Enum { values, .. },
            ..
        }) = btf.get(7)
        else {
            panic!("enum")
        };
        assert_eq!(values[0].1, -1);
    }

    #[test]
    fn cycles_end_in_errors() {
        // [1] TYPEDEF a -> 2, [2] CONST -> 1: a cycle.
        let types = [1, info(8, 0, false), 2, 0, info(10, 0, false), 1];
        let btf = Btf::parse(&build(&types, b"\0a\0")).expect("parses");
        assert_eq!(btf.size_of(1), Err(BtfError::TooDeep(1)));
        assert!(btf.canonical(1).is_err());
        assert!(btf.canonical(2).is_err());
        // An array of itself.
        let types = [0, info(3, 0, false), 0, 1, 1, 4];
        let btf = Btf::parse(&build(&types, b"\0")).expect("parses");
        assert!(btf.size_of(1).is_err());
    }

    #[test]
    fn bad_references_and_names_are_refused() {
        let types = [0, info(2, 0, false), 9];
        assert!(matches!(
            Btf::parse(&build(&types, b"\0")),
            Err(BtfError::Malformed { .. })
        ));
        let types = [99, info(2, 0, false), 0];
        assert!(Btf::parse(&build(&types, b"\0")).is_err());
        let types = [1, info(2, 0, false), 0];
        assert!(Btf::parse(&build(&types, b"\0ab")).is_err(), "no NUL");
        let types = [0, info(31, 0, false), 0];
        assert!(Btf::parse(&build(&types, b"\0")).is_err(), "unknown kind");
        assert!(Btf::parse(b"").is_err());
        assert!(Btf::parse(&[0x9f, 0xeb, 2, 0]).is_err());
    }

    #[test]
    fn every_truncation_and_corruption_is_an_error_or_a_parse() {
        let full = sample();
        for end in 0..full.len() {
            let _ = Btf::parse(&full[..end]);
        }
        // Flip every byte to a few values; nothing may panic, and walks stay bounded.
        for i in 0..full.len() {
            for v in [0u8, 1, 0x7f, 0x80, 0xff] {
                let mut b = full.clone();
                b[i] = v;
                if let Ok(btf) = Btf::parse(&b) {
                    for id in 0..=btf.len() + 1 {
                        let _ = btf.size_of(id);
                        let _ = btf.c_type(id);
                        let _ = btf.canonical(id);
                        let _ = btf.is_signed(id);
                    }
                }
            }
        }
        // A huge vlen must not allocate or loop beyond the data.
        let types = [0, info(4, 0xffff, false), 8];
        assert!(Btf::parse(&build(&types, b"\0")).is_err());
    }

    #[test]
    fn big_endian_is_read() {
        let le = sample();
        // Swap every 32-bit word of header and types, and the magic's two bytes.
        let type_len = u32::from_le_bytes([le[12], le[13], le[14], le[15]]) as usize;
        let type_end = HEADER_LEN + type_len;
        let mut be = Vec::new();
        be.extend_from_slice(&MAGIC.to_be_bytes());
        be.extend_from_slice(&le[2..4]);
        for c in le[4..type_end].chunks(4) {
            be.extend(c.iter().rev());
        }
        be.extend_from_slice(&le[type_end..]);
        let btf = Btf::parse(&be).expect("big-endian parses");
        assert_eq!(btf.find_struct("s"), Some(2));
        assert_eq!(btf.size_of(6), Ok(64));
    }

    /// The running kernel's BTF, when there is one: parses, and truncations of it fail cleanly.
    #[test]
    fn vmlinux_parses_and_truncations_fail() {
        let Ok(bytes) = std::fs::read("/sys/kernel/btf/vmlinux") else {
            println!("SKIP: no /sys/kernel/btf/vmlinux");
            return;
        };
        let btf = Btf::parse(&bytes).expect("vmlinux parses");
        assert!(btf.find_struct("task_struct").is_some());
        let te = btf.find_struct("trace_entry").expect("trace_entry");
        assert_eq!(btf.size_of(te), Ok(8));
        for cut in [1, 23, 24, 100, bytes.len() / 2, bytes.len() - 1] {
            assert!(Btf::parse(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }
}
