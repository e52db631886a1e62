//! BTF writer: the type information (`.BTF`) and the per-instruction function and line records
//! (`.BTF.ext`) of a BPF object, as clang emits them for libbpf.
//!
//! Pure data, no kernel. Encodings from `include/uapi/linux/btf.h` and
//! `Documentation/bpf/btf.rst` (Linux 6.18):
//!
//! ```text
//! .BTF      struct btf_header { u16 magic = 0xeB9F; u8 version = 1; u8 flags = 0; u32 hdr_len = 24;
//!                               u32 type_off = 0; u32 type_len; u32 str_off; u32 str_len; }
//!           types:   struct btf_type { u32 name_off; u32 info; u32 size_or_type; } + kind data,
//!                    ids from 1 in order (0 is void)
//!           strings: NUL-terminated, offset 0 is the empty string
//! .BTF.ext  struct btf_ext_header { u16 magic; u8 version; u8 flags; u32 hdr_len = 24;
//!                                   u32 func_info_off, func_info_len, line_info_off, line_info_len; }
//!           func_info: u32 rec_size = 8, then per section { u32 sec_name_off; u32 num_info;
//!                      struct bpf_func_info { u32 insn_off; u32 type_id; }[num_info] }
//!           line_info: u32 rec_size = 16, then per section { u32 sec_name_off; u32 num_info;
//!                      struct bpf_line_info { u32 insn_off; u32 file_name_off; u32 line_off;
//!                                             u32 line_col = line << 10 | col; }[num_info] }
//! ```
//!
//! In an ELF object, `insn_off` of `.BTF.ext` records is a byte offset within the program's
//! section (libbpf and aya divide by 8 before handing them to the kernel); names in `.BTF.ext`
//! are offsets into the `.BTF` string table.

use std::collections::HashMap;

/// `BTF_MAGIC` (include/uapi/linux/btf.h).
const BTF_MAGIC: u16 = 0xeb9f;
/// `BTF_VERSION`.
const BTF_VERSION: u8 = 1;
/// Size of `struct btf_header`.
const BTF_HEADER_LEN: u32 = 24;
/// Size of `struct btf_ext_header` up to `line_info_len` (what libbpf and aya require at least;
/// the CO-RE fields after it are optional).
const BTF_EXT_HEADER_LEN: u32 = 24;
/// Size of `struct btf_ext_header` with `core_relo_off` and `core_relo_len`.
const BTF_EXT_HEADER_CORE_LEN: u32 = 32;
/// `sizeof(struct bpf_core_relo)`.
const CORE_RELO_REC_SIZE: u32 = 16;
/// `BPF_CORE_FIELD_BYTE_OFFSET` (`enum bpf_core_relo_kind`, include/uapi/linux/bpf.h).
pub const CORE_FIELD_BYTE_OFFSET: u32 = 0;
/// `sizeof(struct bpf_func_info)`.
const FUNC_INFO_REC_SIZE: u32 = 8;
/// `sizeof(struct bpf_line_info)`.
const LINE_INFO_REC_SIZE: u32 = 16;

/// `BTF_INT_SIGNED`: an `Int` encoding bit.
pub const BTF_INT_SIGNED: u8 = 1;
/// `BTF_INT_CHAR`.
pub const BTF_INT_CHAR: u8 = 2;
/// `BTF_INT_BOOL`.
pub const BTF_INT_BOOL: u8 = 4;

/// `BTF_FUNC_STATIC` linkage of a `FUNC`.
pub const BTF_FUNC_STATIC: u32 = 0;
/// `BTF_FUNC_GLOBAL`.
pub const BTF_FUNC_GLOBAL: u32 = 1;
/// `BTF_VAR_GLOBAL_ALLOCATED` linkage of a `VAR` (what libbpf wants for `.maps` variables).
pub const BTF_VAR_GLOBAL_ALLOCATED: u32 = 1;

/// A BTF type id: the index of a type in [`Btf`], 0 being `void`.
pub type TypeId = u32;

/// One member of a struct or union.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Member {
    /// Member name; empty for an anonymous struct/union member.
    pub name: String,
    /// Member type.
    pub ty: TypeId,
    /// Offset from the start of the struct, in bits.
    pub bit_offset: u32,
    /// Bitfield width in bits, 0 for a plain member.
    pub bitfield_size: u8,
}

/// One parameter of a function prototype.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Param {
    /// Parameter name (may be empty).
    pub name: String,
    /// Parameter type.
    pub ty: TypeId,
}

/// One variable of a data section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SecVar {
    /// The `VAR` type.
    pub var: TypeId,
    /// Byte offset in the section.
    pub offset: u32,
    /// Size in bytes.
    pub size: u32,
}

/// A BTF type, one `BTF_KIND_*` each.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Type {
    /// `BTF_KIND_INT` (1): `size` bytes, `bits` wide, `encoding` a `BTF_INT_*` bit or 0.
    Int {
        /// Name, e.g. `unsigned int`.
        name: String,
        /// Size in bytes.
        size: u32,
        /// One of [`BTF_INT_SIGNED`], [`BTF_INT_CHAR`], [`BTF_INT_BOOL`], or 0 (unsigned).
        encoding: u8,
        /// Number of value bits (8 × size for a plain integer).
        bits: u8,
    },
    /// `BTF_KIND_PTR` (2).
    Ptr(TypeId),
    /// `BTF_KIND_ARRAY` (3).
    Array {
        /// Element type.
        elem: TypeId,
        /// Index type (an integer).
        index: TypeId,
        /// Number of elements.
        len: u32,
    },
    /// `BTF_KIND_STRUCT` (4) or `BTF_KIND_UNION` (5).
    Struct {
        /// Tag, empty for an anonymous struct.
        name: String,
        /// `union` rather than `struct`.
        is_union: bool,
        /// `sizeof`.
        size: u32,
        /// Members in declaration order.
        members: Vec<Member>,
    },
    /// `BTF_KIND_FWD` (7): a struct or union declared but not defined here.
    Fwd {
        /// Tag.
        name: String,
        /// `union` rather than `struct`.
        is_union: bool,
    },
    /// `BTF_KIND_TYPEDEF` (8).
    Typedef {
        /// The new name.
        name: String,
        /// The named type.
        ty: TypeId,
    },
    /// `BTF_KIND_FUNC` (12).
    Func {
        /// Function name.
        name: String,
        /// Its `FuncProto`.
        proto: TypeId,
        /// [`BTF_FUNC_STATIC`] or [`BTF_FUNC_GLOBAL`].
        linkage: u32,
    },
    /// `BTF_KIND_FUNC_PROTO` (13).
    FuncProto {
        /// Return type.
        ret: TypeId,
        /// Parameters.
        params: Vec<Param>,
    },
    /// `BTF_KIND_VAR` (14).
    Var {
        /// Variable name.
        name: String,
        /// Its type.
        ty: TypeId,
        /// `BTF_VAR_*` linkage.
        linkage: u32,
    },
    /// `BTF_KIND_DATASEC` (15).
    DataSec {
        /// ELF section name, e.g. `.maps`.
        name: String,
        /// Section size in bytes.
        size: u32,
        /// Variables, sorted by offset.
        vars: Vec<SecVar>,
    },
}

impl Type {
    /// The `BTF_KIND_*` number.
    fn kind(&self) -> u32 {
        match self {
            Type::Int { .. } => 1,
            Type::Ptr(_) => 2,
            Type::Array { .. } => 3,
            Type::Struct {
                is_union: false, ..
            } => 4,
            Type::Struct { is_union: true, .. } => 5,
            Type::Fwd { .. } => 7,
            Type::Typedef { .. } => 8,
            Type::Func { .. } => 12,
            Type::FuncProto { .. } => 13,
            Type::Var { .. } => 14,
            Type::DataSec { .. } => 15,
        }
    }
}

/// Why BTF cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BtfError {
    /// A type refers to a type id that does not exist (yet).
    #[error("BTF type {from} refers to unknown type {to}")]
    UnknownType {
        /// The referring type's id.
        from: TypeId,
        /// The missing id.
        to: TypeId,
    },
    /// A name contains a NUL byte.
    #[error("BTF name {0:?} contains a NUL byte")]
    NulInName(String),
    /// A struct, function or variable has more members, parameters or variables than BTF's
    /// 16-bit `vlen` holds, or a member offset does not fit its field.
    #[error("BTF type {0} is too large to encode")]
    TooLarge(TypeId),
    /// `.BTF.ext` records of a section are not sorted by instruction offset.
    #[error("BTF.ext records of section {section:?} are not strictly increasing")]
    Unsorted {
        /// Program section name.
        section: String,
    },
}

/// A BTF type table being built: types and their string table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Btf {
    types: Vec<Type>,
    strings: Vec<u8>,
    /// Offset of each string already in `strings` (lookup only: offsets follow insertion
    /// order, so output does not depend on hash order).
    offsets: HashMap<String, u32>,
    /// Id of each type already added (lookup only, as `offsets`).
    ids: HashMap<Type, TypeId>,
}

impl Default for Btf {
    fn default() -> Self {
        Self::new()
    }
}

impl Btf {
    /// An empty table (only `void`, id 0).
    pub fn new() -> Self {
        Self {
            types: Vec::new(),
            strings: vec![0],
            offsets: HashMap::from([(String::new(), 0)]),
            ids: HashMap::new(),
        }
    }

    /// Adds a type and returns its id; a type equal to one already added (same kind, name and
    /// referenced ids) gets that one's id, so repeated `int`s and pointers are written once.
    /// References are checked when encoding.
    pub fn add(&mut self, ty: Type) -> TypeId {
        if let Some(&id) = self.ids.get(&ty) {
            return id;
        }
        self.types.push(ty.clone());
        let id = self.types.len() as TypeId;
        self.ids.insert(ty, id);
        id
    }

    /// The type with id `id` (`None` for `void` and unknown ids).
    pub fn get(&self, id: TypeId) -> Option<&Type> {
        (id as usize).checked_sub(1).and_then(|i| self.types.get(i))
    }

    /// Number of types (ids run from 1 to this).
    pub fn len(&self) -> usize {
        self.types.len()
    }

    /// Whether there are no types.
    pub fn is_empty(&self) -> bool {
        self.types.is_empty()
    }

    /// Offset of `s` in the string table, adding it if new.
    pub fn string(&mut self, s: &str) -> Result<u32, BtfError> {
        if s.contains('\0') {
            return Err(BtfError::NulInName(s.to_string()));
        }
        if let Some(&off) = self.offsets.get(s) {
            return Ok(off);
        }
        let off = u32::try_from(self.strings.len()).map_err(|_| BtfError::TooLarge(0))?;
        self.strings.extend_from_slice(s.as_bytes());
        self.strings.push(0);
        self.offsets.insert(s.to_string(), off);
        Ok(off)
    }

    /// The size in bytes of type `id` as the kernel computes it (0 for void, functions and
    /// forward declarations; typedefs resolved, bounded so that a cycle cannot loop).
    pub fn size_of(&self, id: TypeId) -> u32 {
        let mut id = id;
        for _ in 0..32 {
            match self.get(id) {
                None | Some(Type::Fwd { .. } | Type::Func { .. } | Type::FuncProto { .. }) => {
                    return 0
                }
                Some(Type::Int { size, .. })
                | Some(Type::Struct { size, .. })
                | Some(Type::DataSec { size, .. }) => return *size,
                Some(Type::Ptr(_)) => return 8,
                Some(Type::Array { elem, len, .. }) => {
                    return self.size_of(*elem).saturating_mul(*len)
                }
                Some(Type::Typedef { ty, .. }) | Some(Type::Var { ty, .. }) => id = *ty,
            }
        }
        0
    }

    /// The `.BTF` section bytes (little-endian).
    pub fn encode(&mut self) -> Result<Vec<u8>, BtfError> {
        // Names first: interning needs `&mut self`, so collect them before borrowing types.
        let names: Vec<Vec<String>> = self.types.iter().map(type_names).collect();
        let mut name_offsets = Vec::with_capacity(names.len());
        for list in &names {
            let mut offs = Vec::with_capacity(list.len());
            for n in list {
                offs.push(self.string(n)?);
            }
            name_offsets.push(offs);
        }
        let count = self.types.len() as TypeId;
        let mut out = Vec::new();
        for (i, (ty, names)) in self.types.iter().zip(&name_offsets).enumerate() {
            let id = i as TypeId + 1;
            encode_type(&mut out, id, count, ty, names)?;
        }
        let type_len = u32::try_from(out.len()).map_err(|_| BtfError::TooLarge(count))?;
        let str_len = u32::try_from(self.strings.len()).map_err(|_| BtfError::TooLarge(count))?;
        let mut btf = Vec::with_capacity(24 + out.len() + self.strings.len());
        btf.extend_from_slice(&BTF_MAGIC.to_le_bytes());
        btf.push(BTF_VERSION);
        btf.push(0); // flags
        for v in [BTF_HEADER_LEN, 0, type_len, type_len, str_len] {
            btf.extend_from_slice(&v.to_le_bytes());
        }
        btf.extend_from_slice(&out);
        btf.extend_from_slice(&self.strings);
        Ok(btf)
    }
}

/// The names a type puts into the string table, in the order [`encode_type`] uses them.
fn type_names(ty: &Type) -> Vec<String> {
    match ty {
        Type::Int { name, .. }
        | Type::Fwd { name, .. }
        | Type::Typedef { name, .. }
        | Type::Func { name, .. }
        | Type::Var { name, .. }
        | Type::DataSec { name, .. } => vec![name.clone()],
        Type::Ptr(_) | Type::Array { .. } => vec![String::new()],
        Type::Struct { name, members, .. } => std::iter::once(name.clone())
            .chain(members.iter().map(|m| m.name.clone()))
            .collect(),
        Type::FuncProto { params, .. } => std::iter::once(String::new())
            .chain(params.iter().map(|p| p.name.clone()))
            .collect(),
    }
}

fn put(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// `info`: `vlen` in bits 0-15, `kind` in bits 24-28, `kind_flag` in bit 31.
fn info(kind: u32, vlen: usize, kind_flag: bool, id: TypeId) -> Result<u32, BtfError> {
    let vlen = u16::try_from(vlen).map_err(|_| BtfError::TooLarge(id))?;
    Ok(u32::from(vlen) | (kind << 24) | (u32::from(kind_flag) << 31))
}

fn encode_type(
    out: &mut Vec<u8>,
    id: TypeId,
    count: TypeId,
    ty: &Type,
    names: &[u32],
) -> Result<(), BtfError> {
    let check = |to: TypeId| {
        if to > count {
            Err(BtfError::UnknownType { from: id, to })
        } else {
            Ok(to)
        }
    };
    let kind = ty.kind();
    put(out, names[0]);
    match ty {
        Type::Int {
            size,
            encoding,
            bits,
            ..
        } => {
            put(out, info(kind, 0, false, id)?);
            put(out, *size);
            // BTF_INT_ENCODING in bits 24-27, BTF_INT_OFFSET in 16-23 (always 0), BITS in 0-7.
            put(out, (u32::from(*encoding) << 24) | u32::from(*bits));
        }
        Type::Ptr(to) => {
            put(out, info(kind, 0, false, id)?);
            put(out, check(*to)?);
        }
        Type::Array { elem, index, len } => {
            put(out, info(kind, 0, false, id)?);
            put(out, 0);
            put(out, check(*elem)?);
            put(out, check(*index)?);
            put(out, *len);
        }
        Type::Struct { size, members, .. } => {
            // kind_flag: member offsets carry a bitfield size in bits 24-31 (btf.rst 2.2.5).
            let bitfields = members.iter().any(|m| m.bitfield_size != 0);
            put(out, info(kind, members.len(), bitfields, id)?);
            put(out, *size);
            for (m, name) in members.iter().zip(&names[1..]) {
                put(out, *name);
                put(out, check(m.ty)?);
                if bitfields {
                    if m.bit_offset >= 1 << 24 {
                        return Err(BtfError::TooLarge(id));
                    }
                    put(out, (u32::from(m.bitfield_size) << 24) | m.bit_offset);
                } else {
                    put(out, m.bit_offset);
                }
            }
        }
        Type::Fwd { is_union, .. } => {
            put(out, info(kind, 0, *is_union, id)?);
            put(out, 0);
        }
        Type::Typedef { ty, .. } => {
            put(out, info(kind, 0, false, id)?);
            put(out, check(*ty)?);
        }
        Type::Func { proto, linkage, .. } => {
            // A FUNC's vlen holds its linkage.
            put(out, info(kind, *linkage as usize, false, id)?);
            put(out, check(*proto)?);
        }
        Type::FuncProto { ret, params } => {
            put(out, info(kind, params.len(), false, id)?);
            put(out, check(*ret)?);
            for (p, name) in params.iter().zip(&names[1..]) {
                put(out, *name);
                put(out, check(p.ty)?);
            }
        }
        Type::Var { ty, linkage, .. } => {
            put(out, info(kind, 0, false, id)?);
            put(out, check(*ty)?);
            put(out, *linkage);
        }
        Type::DataSec { size, vars, .. } => {
            put(out, info(kind, vars.len(), false, id)?);
            put(out, *size);
            for v in vars {
                put(out, check(v.var)?);
                put(out, v.offset);
                put(out, v.size);
            }
        }
    }
    Ok(())
}

/// One `struct bpf_func_info` as stored in an ELF object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FuncInfo {
    /// Byte offset of the function's first instruction in its section.
    pub insn_off: u32,
    /// Its `FUNC` type.
    pub func: TypeId,
}

/// One `struct bpf_line_info` as stored in an ELF object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineInfo {
    /// Byte offset of the first instruction of the line's run in its section.
    pub insn_off: u32,
    /// String offset of the source file name.
    pub file_name: u32,
    /// String offset of the source line's text.
    pub line_text: u32,
    /// Line number (1-based; 22 bits).
    pub line: u32,
    /// Column (10 bits).
    pub col: u32,
}

/// One `struct bpf_core_relo` as stored in an ELF object: the instruction's immediate or offset
/// is something about a field of a kernel type (its byte offset, for
/// [`CORE_FIELD_BYTE_OFFSET`]), which the loader recomputes against the loading kernel's BTF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoreRelo {
    /// Byte offset of the instruction in its section.
    pub insn_off: u32,
    /// The local type the access starts at (a struct or union of the object's `.BTF`).
    pub type_id: TypeId,
    /// String offset of the access string (`0:3`: member 3 of the type at index 0).
    pub access: u32,
    /// `enum bpf_core_relo_kind`.
    pub kind: u32,
}

/// The records of one program section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtSection {
    /// String offset of the ELF section name.
    pub name: u32,
    /// The section name itself (for error messages).
    pub section: String,
    /// Function records, sorted by `insn_off`.
    pub funcs: Vec<FuncInfo>,
    /// Line records, sorted by `insn_off`.
    pub lines: Vec<LineInfo>,
    /// CO-RE relocations, sorted by `insn_off`.
    pub core_relos: Vec<CoreRelo>,
}

/// Encodes `.BTF.ext` with func_info and line_info for `sections` (in that order), and
/// core_relo records when a section has any (the longer header then says where they are).
pub fn encode_ext(sections: &[ExtSection]) -> Result<Vec<u8>, BtfError> {
    let mut func = Vec::new();
    put(&mut func, FUNC_INFO_REC_SIZE);
    let mut line = Vec::new();
    put(&mut line, LINE_INFO_REC_SIZE);
    for s in sections {
        let unsorted = || BtfError::Unsorted {
            section: s.section.clone(),
        };
        if s.funcs.windows(2).any(|w| w[0].insn_off >= w[1].insn_off)
            || s.lines.windows(2).any(|w| w[0].insn_off >= w[1].insn_off)
            || s.core_relos
                .windows(2)
                .any(|w| w[0].insn_off > w[1].insn_off)
        {
            return Err(unsorted());
        }
        if !s.funcs.is_empty() {
            put(&mut func, s.name);
            put(&mut func, s.funcs.len() as u32);
            for f in &s.funcs {
                put(&mut func, f.insn_off);
                put(&mut func, f.func);
            }
        }
        if !s.lines.is_empty() {
            put(&mut line, s.name);
            put(&mut line, s.lines.len() as u32);
            for l in &s.lines {
                put(&mut line, l.insn_off);
                put(&mut line, l.file_name);
                put(&mut line, l.line_text);
                // BPF_LINE_INFO_LINE_NUM(line_col) is line_col >> 10, the column the low 10 bits.
                put(
                    &mut line,
                    (l.line.min((1 << 22) - 1) << 10) | l.col.min(1023),
                );
            }
        }
    }
    let mut core = Vec::new();
    if sections.iter().any(|s| !s.core_relos.is_empty()) {
        put(&mut core, CORE_RELO_REC_SIZE);
        for s in sections.iter().filter(|s| !s.core_relos.is_empty()) {
            put(&mut core, s.name);
            put(&mut core, s.core_relos.len() as u32);
            for r in &s.core_relos {
                for v in [r.insn_off, r.type_id, r.access, r.kind] {
                    put(&mut core, v);
                }
            }
        }
    }
    let func_len = func.len() as u32;
    let line_len = line.len() as u32;
    let core_len = core.len() as u32;
    let mut out = Vec::with_capacity(32 + func.len() + line.len() + core.len());
    out.extend_from_slice(&BTF_MAGIC.to_le_bytes());
    out.push(BTF_VERSION);
    out.push(0);
    // Offsets are relative to the end of the header.
    if core.is_empty() {
        for v in [BTF_EXT_HEADER_LEN, 0, func_len, func_len, line_len] {
            put(&mut out, v);
        }
    } else {
        let core_off = func_len + line_len;
        for v in [
            BTF_EXT_HEADER_CORE_LEN,
            0,
            func_len,
            func_len,
            line_len,
            core_off,
            core_len,
        ] {
            put(&mut out, v);
        }
    }
    out.extend_from_slice(&func);
    out.extend_from_slice(&line);
    out.extend_from_slice(&core);
    Ok(out)
}

/// Whether `s` is a C identifier, which the kernel requires of struct, member, function and
/// variable names (`btf_name_valid_identifier`, kernel/bpf/btf.c).
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_int_ptr_struct_by_hand() {
        let mut btf = Btf::new();
        let int = btf.add(Type::Int {
            name: "int".into(),
            size: 4,
            encoding: BTF_INT_SIGNED,
            bits: 32,
        });
        let ptr = btf.add(Type::Ptr(int));
        let s = btf.add(Type::Struct {
            name: "s".into(),
            is_union: false,
            size: 16,
            members: vec![
                Member {
                    name: "a".into(),
                    ty: int,
                    bit_offset: 0,
                    bitfield_size: 0,
                },
                Member {
                    name: "p".into(),
                    ty: ptr,
                    bit_offset: 64,
                    bitfield_size: 0,
                },
            ],
        });
        assert_eq!((int, ptr, s), (1, 2, 3));
        let bytes = btf.encode().expect("encode");
        #[rustfmt::skip]
        let expected: Vec<u8> = [
            // header: magic, version 1, flags 0, hdr_len 24, type_off 0, type_len 64,
            // str_off 64, str_len 11
            &[0x9f, 0xeb, 1, 0][..],
            &24u32.to_le_bytes(), &0u32.to_le_bytes(), &64u32.to_le_bytes(),
            &64u32.to_le_bytes(), &11u32.to_le_bytes(),
            // [1] INT "int" (name 1): info kind 1 << 24, size 4, encoding SIGNED << 24 | 32
            &1u32.to_le_bytes(), &0x0100_0000u32.to_le_bytes(), &4u32.to_le_bytes(),
            &0x0100_0020u32.to_le_bytes(),
            // [2] PTR -> 1: no name, kind 2
            &0u32.to_le_bytes(), &0x0200_0000u32.to_le_bytes(), &1u32.to_le_bytes(),
            // [3] STRUCT "s" (name 5): kind 4, vlen 2, size 16
            &5u32.to_le_bytes(), &0x0400_0002u32.to_le_bytes(), &16u32.to_le_bytes(),
            // member "a" (7) type 1 offset 0; member "p" (9) type 2 offset 64 bits
            &7u32.to_le_bytes(), &1u32.to_le_bytes(), &0u32.to_le_bytes(),
            &9u32.to_le_bytes(), &2u32.to_le_bytes(), &64u32.to_le_bytes(),
            // strings
            b"\0int\0s\0a\0p\0",
        ]
        .concat();
        assert_eq!(bytes, expected);
    }

    #[test]
    fn bitfields_set_kind_flag() {
        let mut btf = Btf::new();
        let u = btf.add(Type::Int {
            name: "unsigned int".into(),
            size: 4,
            encoding: 0,
            bits: 32,
        });
        btf.add(Type::Struct {
            name: String::new(),
            is_union: false,
            size: 4,
            members: vec![Member {
                name: "f".into(),
                ty: u,
                bit_offset: 3,
                bitfield_size: 5,
            }],
        });
        let bytes = btf.encode().expect("encode");
        let t = &bytes[24 + 16..];
        assert_eq!(&t[4..8], &0x8400_0001u32.to_le_bytes());
        assert_eq!(&t[20..24], &((5u32 << 24) | 3).to_le_bytes());
    }

    #[test]
    fn rejects_dangling_references_and_nul() {
        let mut btf = Btf::new();
        btf.add(Type::Ptr(7));
        assert_eq!(btf.encode(), Err(BtfError::UnknownType { from: 1, to: 7 }));
        assert!(matches!(btf.string("a\0b"), Err(BtfError::NulInName(_))));
    }

    #[test]
    fn core_relos_follow_line_info_behind_the_longer_header() {
        let ext = encode_ext(&[ExtSection {
            name: 3,
            section: "tp_btf/x".into(),
            core_relos: vec![CoreRelo {
                insn_off: 32,
                type_id: 7,
                access: 12,
                kind: CORE_FIELD_BYTE_OFFSET,
            }],
            ..ExtSection::default()
        }])
        .unwrap();
        let word = |at: usize| u32::from_le_bytes(ext[at..at + 4].try_into().unwrap());
        // hdr_len 32; func (4 bytes: rec size only), line (4), core (4 + 8 + 16).
        assert_eq!(word(4), 32);
        assert_eq!((word(8), word(12)), (0, 4));
        assert_eq!((word(16), word(20)), (4, 4));
        assert_eq!((word(24), word(28)), (8, 28));
        let core = 32 + 8;
        assert_eq!(word(core), 16, "record size");
        assert_eq!((word(core + 4), word(core + 8)), (3, 1), "section, count");
        assert_eq!(
            [
                word(core + 12),
                word(core + 16),
                word(core + 20),
                word(core + 24)
            ],
            [32, 7, 12, 0]
        );
        // Without CO-RE records the header stays 24 bytes.
        let plain = encode_ext(&[ExtSection::default()]).unwrap();
        assert_eq!(u32::from_le_bytes(plain[4..8].try_into().unwrap()), 24);
    }

    #[test]
    fn ext_layout_by_hand() {
        let ext = encode_ext(&[ExtSection {
            name: 3,
            section: "socket".into(),
            funcs: vec![FuncInfo {
                insn_off: 0,
                func: 5,
            }],
            lines: vec![
                LineInfo {
                    insn_off: 0,
                    file_name: 10,
                    line_text: 20,
                    line: 7,
                    col: 0,
                },
                LineInfo {
                    insn_off: 16,
                    file_name: 10,
                    line_text: 30,
                    line: 8,
                    col: 2,
                },
            ],
            core_relos: Vec::new(),
        }])
        .expect("encode");
        let words: Vec<u32> = ext[8..]
            .chunks(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        assert_eq!(&ext[..8], &[0x9f, 0xeb, 1, 0, 24, 0, 0, 0]);
        #[rustfmt::skip]
        assert_eq!(
            words,
            [
                0, 20, 20, 44, // func_info_off/len, line_info_off/len
                8, 3, 1, 0, 5, // rec_size, section 3, one record: insn 0 -> FUNC 5
                16, 3, 2, // rec_size, section 3, two records
                0, 10, 20, 7 << 10,
                16, 10, 30, (8 << 10) | 2,
            ]
        );
        let unsorted = encode_ext(&[ExtSection {
            lines: vec![
                LineInfo {
                    insn_off: 8,
                    file_name: 0,
                    line_text: 0,
                    line: 1,
                    col: 0,
                };
                2
            ],
            ..ExtSection::default()
        }]);
        assert!(matches!(unsorted, Err(BtfError::Unsorted { .. })));
    }

    #[test]
    fn equal_types_are_added_once() {
        let mut btf = Btf::new();
        let int = Type::Int {
            name: "int".into(),
            size: 4,
            encoding: BTF_INT_SIGNED,
            bits: 32,
        };
        let a = btf.add(int.clone());
        let p = btf.add(Type::Ptr(a));
        assert_eq!(btf.add(int), a);
        assert_eq!(btf.add(Type::Ptr(a)), p);
        assert_eq!(btf.len(), 2);
    }

    #[test]
    fn sizes_resolve_through_typedefs_and_arrays() {
        let mut btf = Btf::new();
        let c = btf.add(Type::Int {
            name: "char".into(),
            size: 1,
            encoding: BTF_INT_SIGNED,
            bits: 8,
        });
        let idx = btf.add(Type::Int {
            name: "__ARRAY_SIZE_TYPE__".into(),
            size: 4,
            encoding: 0,
            bits: 32,
        });
        let arr = btf.add(Type::Array {
            elem: c,
            index: idx,
            len: 16,
        });
        let td = btf.add(Type::Typedef {
            name: "comm_t".into(),
            ty: arr,
        });
        assert_eq!(btf.size_of(td), 16);
        assert!(is_identifier("comm_t") && !is_identifier("1x") && !is_identifier(""));
    }
}
