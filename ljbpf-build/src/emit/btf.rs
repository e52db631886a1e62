//! The BTF of a probe's object: C types of map keys and values, and one `FUNC` per program.
//! The encoding is `ljbpf_core::btf`; this module decides what each [`CType`] and each program
//! becomes.
//!
//! Conventions follow what clang emits for the same C (so that bpftool and the kernel print
//! them like any libbpf object): integers as `INT` with their C base name and signedness,
//! `char` signed (x86-64), arrays indexed by clang's `__ARRAY_SIZE_TYPE__`, structs with member
//! offsets in bits and bitfields with `kind_flag` (Documentation/bpf/btf.rst 2.2.5), a struct
//! known only by tag (behind a pointer) as `FWD`.

use ljbpf_core::btf::{self, Btf, Member, Param, Type, TypeId};
use ljbpf_core::context::Context;
use ljbpf_core::map::MapKind;

use crate::ctype::{CType, StructDef};

/// A BTF table being filled from C types and programs.
#[derive(Debug, Default)]
pub struct Types {
    btf: Btf,
    /// Types already converted (looked up by equality; the ids follow conversion order, so the
    /// output is deterministic).
    done: Vec<(CType, TypeId)>,
    index: Option<TypeId>,
    int: Option<TypeId>,
    /// Local types of CO-RE records, by (kernel struct, member).
    kernel: Vec<((String, String), TypeId)>,
}

impl Types {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// The table, to hand to the ELF writer.
    pub fn into_btf(self) -> Btf {
        self.btf
    }

    /// The BTF type of a C type (`void` is 0).
    pub fn ctype(&mut self, ty: &CType) -> TypeId {
        if let CType::Void = ty {
            return 0;
        }
        if let Some((_, id)) = self.done.iter().find(|(t, _)| t == ty) {
            return *id;
        }
        let id = match ty {
            CType::Void => 0,
            CType::Bool => self.btf.add(Type::Int {
                name: "_Bool".into(),
                size: 1,
                encoding: btf::BTF_INT_BOOL,
                bits: 8,
            }),
            CType::Int {
                size,
                signed,
                is_char,
            } => self.btf.add(Type::Int {
                name: int_name(*size, *signed, *is_char).into(),
                size: u32::from(*size),
                encoding: if *signed { btf::BTF_INT_SIGNED } else { 0 },
                bits: size.saturating_mul(8),
            }),
            CType::Pointer(to) => {
                let to = self.ctype(to);
                self.btf.add(Type::Ptr(to))
            }
            CType::Array(elem, len) => {
                let elem = self.ctype(elem);
                let index = self.index();
                self.btf.add(Type::Array {
                    elem,
                    index,
                    len: *len,
                })
            }
            CType::Struct(def) => self.structure(def),
            CType::Opaque { name, is_union } => self.btf.add(Type::Fwd {
                name: name.clone(),
                is_union: *is_union,
            }),
        };
        self.done.push((ty.clone(), id));
        id
    }

    fn structure(&mut self, def: &StructDef) -> TypeId {
        let members = def
            .fields
            .iter()
            .map(|f| {
                let ty = self.ctype(&f.ty);
                let byte_bits = f.offset.saturating_mul(8);
                // On little-endian, a bitfield `bits.0` bits above the least significant bit of
                // its container is that many bits after the container's first byte.
                let (bit_offset, bitfield_size) = match f.bits {
                    Some((pos, width)) => (byte_bits.saturating_add(u32::from(pos)), width),
                    None => (byte_bits, 0),
                };
                Member {
                    name: f.name.clone(),
                    ty,
                    bit_offset,
                    bitfield_size,
                }
            })
            .collect();
        self.btf.add(Type::Struct {
            name: def.name.clone().unwrap_or_default(),
            is_union: def.is_union,
            size: def.size,
            members,
        })
    }

    /// The local type a CO-RE record of member `member` of kernel struct `root` starts at: a
    /// struct of the build kernel's name and size holding only that member, at its build
    /// offset (so the access string is `0:0`, and a loader that checks the instruction against
    /// the local layout, as libbpf does, finds the offset it holds). The member's type keeps
    /// what CO-RE compares (integer, pointer, array, or a named struct of the same size);
    /// one type per (root, member).
    pub fn kernel_member(
        &mut self,
        root: &str,
        is_union: bool,
        size: u32,
        member: &str,
        offset: u32,
        ty: &CType,
    ) -> TypeId {
        let ty = match ty {
            CType::Pointer(_) => CType::Pointer(Box::new(CType::Void)),
            other => other.clone(),
        };
        let ty = match &ty {
            CType::Struct(def) => self.btf.add(Type::Struct {
                name: def.name.clone().unwrap_or_default(),
                is_union: def.is_union,
                size: def.size,
                members: Vec::new(),
            }),
            CType::Array(elem, len) => {
                let elem = match &**elem {
                    CType::Struct(_) | CType::Array(..) => self.ctype(&CType::Array(
                        Box::new(CType::Int {
                            size: 1,
                            signed: false,
                            is_char: false,
                        }),
                        elem.size(),
                    )),
                    e => self.ctype(e),
                };
                let index = self.index();
                self.btf.add(Type::Array {
                    elem,
                    index,
                    len: *len,
                })
            }
            other => self.ctype(other),
        };
        let key = (root.to_string(), member.to_string());
        if let Some((_, id)) = self.kernel.iter().find(|(k, _)| *k == key) {
            return *id;
        }
        let id = self.btf.add(Type::Struct {
            name: root.to_string(),
            is_union,
            size,
            members: vec![Member {
                name: member.to_string(),
                ty,
                bit_offset: offset.saturating_mul(8),
                bitfield_size: 0,
            }],
        });
        self.kernel.push((key, id));
        id
    }

    /// clang's array index type.
    fn index(&mut self) -> TypeId {
        if let Some(id) = self.index {
            return id;
        }
        let id = self.btf.add(Type::Int {
            name: "__ARRAY_SIZE_TYPE__".into(),
            size: 4,
            encoding: 0,
            bits: 32,
        });
        self.index = Some(id);
        id
    }

    /// `int`, the return type of programs.
    fn int(&mut self) -> TypeId {
        if let Some(id) = self.int {
            return id;
        }
        let id = self.ctype(&CType::Int {
            size: 4,
            signed: true,
            is_char: false,
        });
        self.int = Some(id);
        id
    }

    /// The `FUNC` of a program: `int name(ctx *ctx)`, global as clang emits a `SEC()`
    /// function. The context is `struct __sk_buff *`, `struct xdp_md *`, `struct pt_regs *` (declared, not
    /// defined: the kernel knows them) or `void *` for a tracepoint record, whose layout
    /// differs per event.
    pub fn program(&mut self, name: &str, context: Context) -> TypeId {
        let pointee = match context {
            // Tracepoint records and argument arrays differ per target: `void *`.
            Context::TracepointRecord | Context::RawArgs | Context::BtfArgs => 0,
            Context::PerfEventData => self.ctype(&CType::Opaque {
                name: "bpf_perf_event_data".into(),
                is_union: false,
            }),
            Context::Skb => self.ctype(&CType::Opaque {
                name: "__sk_buff".into(),
                is_union: false,
            }),
            Context::PtRegs => self.ctype(&CType::Opaque {
                name: "pt_regs".into(),
                is_union: false,
            }),
            Context::XdpMd => self.ctype(&CType::Opaque {
                name: "xdp_md".into(),
                is_union: false,
            }),
        };
        let ctx = self.btf.add(Type::Ptr(pointee));
        let ret = self.int();
        let proto = self.btf.add(Type::FuncProto {
            ret,
            params: vec![Param {
                name: "ctx".into(),
                ty: ctx,
            }],
        });
        self.btf.add(Type::Func {
            name: name.to_string(),
            proto,
            linkage: btf::BTF_FUNC_GLOBAL,
        })
    }

    /// The key and value types a map of `kind` declares with `__type(key, K)` and
    /// `__type(value, V)`, or `None` where the map must be created without BTF for them
    /// (then the ELF writer writes `__uint(key_size, N)`): the kernel checks key/value BTF only
    /// for the kinds whose `map_check_btf` accepts it — hash and array maps (an array's key must
    /// be a 32-bit `INT`, `array_map_check_btf`) and LPM tries (key a struct,
    /// `trie_check_btf`); fd arrays, stack traces, perf event arrays and ring buffers use
    /// `map_check_no_btf` or are created without BTF by libbpf and aya (`bpf_create_map`).
    pub fn map(
        &mut self,
        kind: MapKind,
        key: &CType,
        value: &CType,
    ) -> (Option<TypeId>, Option<TypeId>) {
        let typed = match kind {
            MapKind::Hash | MapKind::PercpuHash | MapKind::LruHash | MapKind::LruPercpuHash => true,
            MapKind::Array | MapKind::PercpuArray => {
                matches!(key, CType::Int { size: 4, .. })
            }
            MapKind::LpmTrie => matches!(key, CType::Struct(def) if !def.is_union),
            MapKind::ProgArray
            | MapKind::PerfEventArray
            | MapKind::StackTrace
            | MapKind::CgroupArray
            | MapKind::Devmap
            | MapKind::Sockmap
            | MapKind::Ringbuf => false,
        };
        if !typed || key.size() == 0 || value.size() == 0 {
            return (None, None);
        }
        (Some(self.ctype(key)), Some(self.ctype(value)))
    }
}

/// The C base name of an integer type, as clang names it in BTF.
fn int_name(size: u8, signed: bool, is_char: bool) -> &'static str {
    match (size, signed, is_char) {
        (_, _, true) => "char",
        (1, true, false) => "signed char",
        (1, false, false) => "unsigned char",
        (2, true, false) => "short",
        (2, false, false) => "unsigned short",
        (4, true, false) => "int",
        (4, false, false) => "unsigned int",
        (_, true, false) => "long long",
        (_, false, false) => "unsigned long long",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctype::CTypes;

    #[test]
    fn struct_key_members_and_bitfields() {
        let mut c = CTypes::new();
        c.cdef("struct k { uint32_t pid; char comm[16]; unsigned a:3, b:5; };")
            .expect("cdef");
        let ty = c.parse_type("struct k").expect("type");
        let mut t = Types::new();
        let id = t.ctype(&ty);
        assert_eq!(t.ctype(&ty), id, "converted once");
        let btf = t.into_btf();
        let Some(Type::Struct { name, members, .. }) = btf.get(id) else {
            panic!("not a struct: {:?}", btf.get(id));
        };
        assert_eq!(name, "k");
        let offsets: Vec<(&str, u32, u8)> = members
            .iter()
            .map(|m| (m.name.as_str(), m.bit_offset, m.bitfield_size))
            .collect();
        assert_eq!(
            offsets,
            [("pid", 0, 0), ("comm", 32, 0), ("a", 160, 3), ("b", 163, 5)]
        );
        assert_eq!(btf.size_of(id), ty.size());
    }
}
