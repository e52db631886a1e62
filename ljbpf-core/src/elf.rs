//! ELF writer: turns compiled programs and map definitions into a BPF relocatable object
//! that aya 0.14 (`aya-obj` 0.3) and libbpf 1.x (`bpftool prog loadall`) load.
//!
//! Pure data, no kernel. The layout mirrors what clang emits for libbpf-style C:
//!
//! ```text
//! ELF64 LE, ET_REL, EM_BPF (247)
//!   <section>        SHF_ALLOC|SHF_EXECINSTR  one per distinct ProgramSpec::section;
//!                                              global STT_FUNC symbol per program (value, size)
//!   .rel<section>    R_BPF_64_64 at insn_index*8 against the map's symbol
//!   license          NUL-terminated string, global STT_OBJECT `_license`
//!   .maps            BTF-defined maps: zeroed `struct { int (*type)[T]; ... }` per map,
//!                    global STT_OBJECT per map
//!   .BTF             types (the caller's, plus the map definitions, their VARs and the
//!                    `.maps` DATASEC)
//!   .BTF.ext         func_info (program start -> its FUNC) and line_info per program section
//! ```
//!
//! Maps follow libbpf's convention for `SEC(".maps")` (`tools/lib/bpf/bpf_helpers.h`:
//! `__uint(name, val)` is `int (*name)[val]`, `__type(name, val)` is `typeof(val) *name`):
//! libbpf 1.x rejects legacy `maps` definitions ("legacy map definitions in 'maps' section are
//! not supported"), and aya-obj parses `.maps` the same way (`parse_btf_map_def`).
//!
//! Programs that share a section name share one ELF section (concatenated in spec order), as
//! clang does for two functions with the same `SEC()`. aya-obj parses every STT_FUNC symbol of a
//! program section as its own program and applies relocations by section offset
//! (`aya-obj/src/relocation.rs`, `relocate_maps`), so that layout loads correctly; both loaders
//! split `.BTF.ext` records per program by the same offsets.

use std::collections::BTreeMap;

use object::write::{Object, Relocation, SectionId, Symbol, SymbolId, SymbolSection};

use crate::btf::{self, Btf, BtfError, Member, SecVar, Type, TypeId};
use object::{
    elf, Architecture, BinaryFormat, Endianness, RelocationFlags, SectionKind, SymbolFlags,
    SymbolKind, SymbolScope,
};

/// Size of one BPF instruction in bytes (`struct bpf_insn`, include/uapi/linux/bpf.h).
const INSN_SIZE: usize = 8;

/// Opcode of the first half of a 16-byte `LD_IMM64`: `BPF_LD | BPF_IMM | BPF_DW`.
const LD_IMM64: u8 = 0x18;

/// `src_reg` value of an `LD_IMM64` whose immediate is a map fd (include/uapi/linux/bpf.h).
const BPF_PSEUDO_MAP_FD: u8 = 1;

/// Size of one member of a BTF map definition: every member is a pointer.
const MAP_MEMBER_SIZE: u32 = 8;

/// Section names aya-obj classifies by prefix as something other than a program
/// (`EbpfSectionKind::from_name` in aya-obj 0.3), so a program must not live there.
const RESERVED_SECTION_PREFIXES: &[&str] = &[
    "license", "version", "maps", ".maps", ".text", ".bss", ".data", ".rodata", ".BTF", ".rel",
];

/// One map: a BTF-defined map in section `.maps`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapSpec {
    /// Symbol name of the map; aya looks maps up by this name.
    pub name: String,
    /// `enum bpf_map_type` value (e.g. 1 = `BPF_MAP_TYPE_HASH`, 2 = `BPF_MAP_TYPE_ARRAY`).
    pub map_type: u32,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes.
    pub value_size: u32,
    /// Maximum number of entries.
    pub max_entries: u32,
    /// `BPF_F_*` map creation flags.
    pub map_flags: u32,
    /// BTF type of the key in [`ObjectSpec::btf`] (`__type(key, K)`); `None` writes
    /// `__uint(key_size, N)` instead (when `key_size` is not 0), for the map kinds the kernel
    /// creates without key/value BTF.
    pub key_type: Option<TypeId>,
    /// BTF type of the value, as `key_type`.
    pub value_type: Option<TypeId>,
}

/// One BPF program: a function symbol in a program section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramSpec {
    /// Function symbol (global STT_FUNC); aya uses it as the program name.
    pub name: String,
    /// ELF section name, which tells aya the program type, e.g.
    /// `tracepoint/raw_syscalls/sys_enter`, `socket`, `kprobe/do_sys_open`, `uprobe/...`.
    pub section: String,
    /// Raw little-endian BPF instructions, 8 bytes each (`LD_IMM64` takes two).
    pub code: Vec<u8>,
    /// Instructions that load a map fd, to be patched by the loader.
    pub map_relocs: Vec<MapReloc>,
    /// Its `FUNC` in [`ObjectSpec::btf`] (the func_info record at its first instruction).
    pub func: Option<TypeId>,
    /// Line records, sorted by instruction; the first should be at instruction 0 (the kernel
    /// requires a line record at the start of every function).
    pub lines: Vec<LineSpec>,
    /// CO-RE field-offset relocations, sorted by instruction.
    pub core_relos: Vec<CoreReloSpec>,
}

/// An instruction whose immediate is the byte offset of a kernel struct's field (a
/// `BPF_CORE_FIELD_BYTE_OFFSET` record in `.BTF.ext`): loaders write the loading kernel's
/// offset there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreReloSpec {
    /// Index (in 8-byte units) of the instruction.
    pub insn_index: usize,
    /// The local struct or union type the access starts at (in [`ObjectSpec::btf`]).
    pub type_id: TypeId,
    /// The access string, `0:N` for member N.
    pub access: String,
}

/// A source line of a run of instructions (one `.BTF.ext` line_info record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineSpec {
    /// Index (in 8-byte units) of the first instruction of the run.
    pub insn_index: usize,
    /// Source file name, as shown in verifier logs and `bpftool prog dump ... linum`.
    pub file: String,
    /// 1-based line number.
    pub line: u32,
    /// The text of the line.
    pub text: String,
}

/// A reference from an instruction to a map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapReloc {
    /// Index (in 8-byte units) of the `LD_IMM64` with `src_reg = BPF_PSEUDO_MAP_FD`.
    pub insn_index: usize,
    /// Index into [`ObjectSpec::maps`].
    pub map: usize,
}

/// Everything that goes into one object file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectSpec {
    /// License string of the `license` section (e.g. `"GPL"`); GPL-only helpers need a
    /// GPL-compatible license.
    pub license: String,
    /// Maps, referenced by index from [`MapReloc::map`].
    pub maps: Vec<MapSpec>,
    /// Programs, in output order.
    pub programs: Vec<ProgramSpec>,
    /// Types the maps and programs refer to (keys, values, functions); the writer adds the
    /// map definitions and the `.maps` DATASEC and writes it as `.BTF`.
    pub btf: Btf,
}

/// Why an [`ObjectSpec`] cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum ElfError {
    /// The object has no programs.
    #[error("object has no programs")]
    NoPrograms,
    /// A program or map name is empty or contains a NUL byte, or a map name is not a C
    /// identifier (it names a BTF variable, which the kernel requires to be one).
    #[error("invalid symbol name {name:?}: must be non-empty and contain no NUL byte (map names: a C identifier)")]
    InvalidName {
        /// The offending name.
        name: String,
    },
    /// Two programs or maps (or `_license`) share a symbol name.
    #[error("duplicate symbol name {name:?}")]
    DuplicateName {
        /// The repeated name.
        name: String,
    },
    /// A program's section name is empty, contains NUL, or is one aya does not treat as a
    /// program section.
    #[error("program {program}: invalid section name {section:?}")]
    InvalidSection {
        /// Program name.
        program: String,
        /// The offending section name.
        section: String,
    },
    /// A program's code is empty or not a whole number of instructions.
    #[error("program {program}: code is {len} bytes, expected a non-zero multiple of 8")]
    BadCodeLength {
        /// Program name.
        program: String,
        /// Length of the code in bytes.
        len: usize,
    },
    /// The license string contains a NUL byte.
    #[error("license {license:?} contains a NUL byte")]
    InvalidLicense {
        /// The license string.
        license: String,
    },
    /// A map relocation points past the end of the code or into the last instruction.
    #[error(
        "program {program}: map relocation at insn {insn_index} is out of range ({insns} insns)"
    )]
    RelocOutOfRange {
        /// Program name.
        program: String,
        /// The relocation's instruction index.
        insn_index: usize,
        /// Number of instructions in the program.
        insns: usize,
    },
    /// A map relocation does not point at an `LD_IMM64` with `src_reg = BPF_PSEUDO_MAP_FD`.
    #[error(
        "program {program}: map relocation at insn {insn_index} is not a map-fd ld_imm64 \
         (opcode {opcode:#04x}, src_reg {src_reg})"
    )]
    RelocNotMapLoad {
        /// Program name.
        program: String,
        /// The relocation's instruction index.
        insn_index: usize,
        /// Opcode found at that index.
        opcode: u8,
        /// `src_reg` found at that index.
        src_reg: u8,
    },
    /// A map relocation names a map index that does not exist.
    #[error("program {program}: map relocation at insn {insn_index} names map {map}, but there are {maps} maps")]
    UnknownMap {
        /// Program name.
        program: String,
        /// The relocation's instruction index.
        insn_index: usize,
        /// The map index.
        map: usize,
        /// Number of maps in the object.
        maps: usize,
    },
    /// Line records of a program are not sorted or point past its code.
    #[error("program {program}: line record at insn {insn_index} is out of order or range")]
    BadLine {
        /// Program name.
        program: String,
        /// The record's instruction index.
        insn_index: usize,
    },
    /// The BTF could not be encoded.
    #[error("cannot encode BTF")]
    Btf {
        /// The underlying error.
        #[source]
        source: BtfError,
    },
    /// The `object` crate failed to serialise the file.
    #[error("cannot write elf object")]
    Write {
        /// The underlying error.
        #[source]
        source: object::write::Error,
    },
}

/// Writes `spec` as an ELF64 little-endian BPF relocatable object. Output is deterministic:
/// the same spec always gives the same bytes.
pub fn write_object(spec: &ObjectSpec) -> Result<Vec<u8>, ElfError> {
    validate(spec)?;

    let mut obj = Object::new(BinaryFormat::Elf, Architecture::Bpf, Endianness::Little);

    let mut btf = spec.btf.clone();
    let btf_err = |source| ElfError::Btf { source };

    // Map symbols first: relocations must refer to symbols that already exist.
    let map_symbols = if spec.maps.is_empty() {
        Vec::new()
    } else {
        let section = obj.add_section(Vec::new(), b".maps".to_vec(), SectionKind::Data);
        let int = btf.add(Type::Int {
            name: "int".into(),
            size: 4,
            encoding: btf::BTF_INT_SIGNED,
            bits: 32,
        });
        // clang's name for the index type of arrays (any 4-byte integer does).
        let index = btf.add(Type::Int {
            name: "__ARRAY_SIZE_TYPE__".into(),
            size: 4,
            encoding: 0,
            bits: 32,
        });
        let mut offset = 0u32;
        let mut symbols = Vec::with_capacity(spec.maps.len());
        let mut vars = Vec::with_capacity(spec.maps.len());
        for map in &spec.maps {
            let def = map_definition(&mut btf, map, int, index);
            let size = btf.size_of(def);
            let var = btf.add(Type::Var {
                name: map.name.clone(),
                ty: def,
                linkage: btf::BTF_VAR_GLOBAL_ALLOCATED,
            });
            vars.push(SecVar { var, offset, size });
            symbols.push(add_symbol(
                &mut obj,
                &map.name,
                section,
                u64::from(offset),
                u64::from(size),
                SymbolKind::Data,
            ));
            offset += size;
        }
        btf.add(Type::DataSec {
            name: ".maps".into(),
            size: offset,
            vars,
        });
        obj.set_section_data(section, vec![0; offset as usize], 8);
        symbols
    };

    // Group programs by section name, keeping the order of first appearance.
    let mut groups: Vec<(&str, Vec<&ProgramSpec>)> = Vec::new();
    let mut group_of: BTreeMap<&str, usize> = BTreeMap::new();
    for program in &spec.programs {
        let index = *group_of.entry(program.section.as_str()).or_insert_with(|| {
            groups.push((program.section.as_str(), Vec::new()));
            groups.len() - 1
        });
        groups[index].1.push(program);
    }

    let mut ext_sections = Vec::with_capacity(groups.len());
    for (section_name, programs) in &groups {
        let section = obj.add_section(
            Vec::new(),
            section_name.as_bytes().to_vec(),
            SectionKind::Text,
        );
        let mut code = Vec::new();
        let mut relocations = Vec::new();
        let mut ext = btf::ExtSection {
            name: btf.string(section_name).map_err(btf_err)?,
            section: section_name.to_string(),
            ..btf::ExtSection::default()
        };
        for program in programs {
            let start = code.len() as u64;
            if let Some(func) = program.func {
                ext.funcs.push(btf::FuncInfo {
                    insn_off: start as u32,
                    func,
                });
            }
            for line in &program.lines {
                ext.lines.push(btf::LineInfo {
                    insn_off: (start as usize + line.insn_index * INSN_SIZE) as u32,
                    file_name: btf.string(&line.file).map_err(btf_err)?,
                    line_text: btf.string(&line.text).map_err(btf_err)?,
                    line: line.line,
                    col: 0,
                });
            }
            for r in &program.core_relos {
                ext.core_relos.push(btf::CoreRelo {
                    insn_off: (start as usize + r.insn_index * INSN_SIZE) as u32,
                    type_id: r.type_id,
                    access: btf.string(&r.access).map_err(btf_err)?,
                    kind: btf::CORE_FIELD_BYTE_OFFSET,
                });
            }
            code.extend_from_slice(&program.code);
            add_symbol(
                &mut obj,
                &program.name,
                section,
                start,
                program.code.len() as u64,
                SymbolKind::Text,
            );
            for reloc in &program.map_relocs {
                relocations.push(Relocation {
                    offset: start + (reloc.insn_index * INSN_SIZE) as u64,
                    symbol: map_symbols[reloc.map],
                    addend: 0,
                    flags: RelocationFlags::Elf {
                        r_type: elf::R_BPF_64_64,
                    },
                });
            }
        }
        obj.set_section_data(section, code, INSN_SIZE as u64);
        for relocation in relocations {
            obj.add_relocation(section, relocation)
                .map_err(|source| ElfError::Write { source })?;
        }
        ext_sections.push(ext);
    }

    let license = obj.add_section(Vec::new(), b"license".to_vec(), SectionKind::Data);
    let mut license_data = spec.license.as_bytes().to_vec();
    license_data.push(0);
    let license_len = license_data.len() as u64;
    obj.set_section_data(license, license_data, 1);
    add_symbol(
        &mut obj,
        "_license",
        license,
        0,
        license_len,
        SymbolKind::Data,
    );

    let ext = btf::encode_ext(&ext_sections).map_err(btf_err)?;
    let types = btf.encode().map_err(btf_err)?;
    let section = obj.add_section(Vec::new(), b".BTF".to_vec(), SectionKind::Other);
    obj.set_section_data(section, types, 4);
    let section = obj.add_section(Vec::new(), b".BTF.ext".to_vec(), SectionKind::Other);
    obj.set_section_data(section, ext, 4);

    obj.write().map_err(|source| ElfError::Write { source })
}

/// The anonymous struct of a BTF-defined map, as `struct { __uint(type, T); ... } name
/// SEC(".maps")` compiles: integers as `int (*)[N]`, key and value types as pointers to them.
fn map_definition(btf: &mut Btf, map: &MapSpec, int: TypeId, index: TypeId) -> TypeId {
    let mut members = Vec::new();
    let uint = |btf: &mut Btf, members: &mut Vec<Member>, name: &str, value: u32| {
        let array = btf.add(Type::Array {
            elem: int,
            index,
            len: value,
        });
        let ptr = btf.add(Type::Ptr(array));
        push_member(members, name, ptr);
    };
    uint(btf, &mut members, "type", map.map_type);
    uint(btf, &mut members, "max_entries", map.max_entries);
    for (name, size_name, ty, size) in [
        ("key", "key_size", map.key_type, map.key_size),
        ("value", "value_size", map.value_type, map.value_size),
    ] {
        match ty {
            Some(ty) => {
                let ptr = btf.add(Type::Ptr(ty));
                push_member(&mut members, name, ptr);
            }
            None if size != 0 => uint(btf, &mut members, size_name, size),
            None => {}
        }
    }
    if map.map_flags != 0 {
        uint(btf, &mut members, "map_flags", map.map_flags);
    }
    btf.add(Type::Struct {
        name: String::new(),
        is_union: false,
        size: members.len() as u32 * MAP_MEMBER_SIZE,
        members,
    })
}

fn push_member(members: &mut Vec<Member>, name: &str, ty: TypeId) {
    members.push(Member {
        name: name.to_string(),
        ty,
        bit_offset: members.len() as u32 * MAP_MEMBER_SIZE * 8,
        bitfield_size: 0,
    });
}

fn add_symbol(
    obj: &mut Object<'_>,
    name: &str,
    section: SectionId,
    value: u64,
    size: u64,
    kind: SymbolKind,
) -> SymbolId {
    obj.add_symbol(Symbol {
        name: name.as_bytes().to_vec(),
        value,
        size,
        kind,
        // Dynamic = STB_GLOBAL with default visibility, as clang emits for BPF objects.
        scope: SymbolScope::Dynamic,
        weak: false,
        section: SymbolSection::Section(section),
        flags: SymbolFlags::None,
    })
}

fn validate(spec: &ObjectSpec) -> Result<(), ElfError> {
    if spec.programs.is_empty() {
        return Err(ElfError::NoPrograms);
    }
    if spec.license.contains('\0') {
        return Err(ElfError::InvalidLicense {
            license: spec.license.clone(),
        });
    }
    let mut names = std::collections::BTreeSet::from(["_license"]);
    let symbol_names = spec
        .maps
        .iter()
        .map(|m| &m.name)
        .chain(spec.programs.iter().map(|p| &p.name));
    for name in symbol_names {
        if name.is_empty() || name.contains('\0') {
            return Err(ElfError::InvalidName { name: name.clone() });
        }
        if !names.insert(name.as_str()) {
            return Err(ElfError::DuplicateName { name: name.clone() });
        }
    }
    if let Some(map) = spec.maps.iter().find(|m| !btf::is_identifier(&m.name)) {
        return Err(ElfError::InvalidName {
            name: map.name.clone(),
        });
    }
    for program in &spec.programs {
        let section = &program.section;
        if section.is_empty()
            || section.contains('\0')
            || RESERVED_SECTION_PREFIXES
                .iter()
                .any(|prefix| section.starts_with(prefix))
        {
            return Err(ElfError::InvalidSection {
                program: program.name.clone(),
                section: section.clone(),
            });
        }
        if program.code.is_empty() || program.code.len() % INSN_SIZE != 0 {
            return Err(ElfError::BadCodeLength {
                program: program.name.clone(),
                len: program.code.len(),
            });
        }
        let insns = program.code.len() / INSN_SIZE;
        let mut previous = None;
        for line in &program.lines {
            if line.insn_index >= insns || previous.is_some_and(|p| p >= line.insn_index) {
                return Err(ElfError::BadLine {
                    program: program.name.clone(),
                    insn_index: line.insn_index,
                });
            }
            previous = Some(line.insn_index);
        }
        for reloc in &program.map_relocs {
            // LD_IMM64 occupies two slots, so it cannot start at the last one.
            if reloc.insn_index + 1 >= insns {
                return Err(ElfError::RelocOutOfRange {
                    program: program.name.clone(),
                    insn_index: reloc.insn_index,
                    insns,
                });
            }
            let at = reloc.insn_index * INSN_SIZE;
            let opcode = program.code[at];
            // Byte 1 of `struct bpf_insn` is `dst_reg:4 | src_reg:4` (src in the high nibble
            // on little-endian).
            let src_reg = program.code[at + 1] >> 4;
            if opcode != LD_IMM64 || src_reg != BPF_PSEUDO_MAP_FD {
                return Err(ElfError::RelocNotMapLoad {
                    program: program.name.clone(),
                    insn_index: reloc.insn_index,
                    opcode,
                    src_reg,
                });
            }
            if reloc.map >= spec.maps.len() {
                return Err(ElfError::UnknownMap {
                    program: program.name.clone(),
                    insn_index: reloc.insn_index,
                    map: reloc.map,
                    maps: spec.maps.len(),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use object::{Object as _, ObjectSection as _, ObjectSymbol as _};

    /// `r1 = map[0] ll; r0 = 0; exit`
    fn sample() -> ObjectSpec {
        let mut code = Vec::new();
        code.extend_from_slice(&[0x18, 0x11, 0, 0, 0, 0, 0, 0]);
        code.extend_from_slice(&[0; 8]);
        code.extend_from_slice(&[0xb7, 0x00, 0, 0, 0, 0, 0, 0]);
        code.extend_from_slice(&[0x95, 0, 0, 0, 0, 0, 0, 0]);
        ObjectSpec {
            license: "GPL".into(),
            maps: vec![MapSpec {
                name: "counts".into(),
                map_type: 1,
                key_size: 4,
                value_size: 8,
                max_entries: 16,
                map_flags: 0,
                key_type: None,
                value_type: None,
            }],
            programs: vec![ProgramSpec {
                name: "on_enter".into(),
                section: "tracepoint/raw_syscalls/sys_enter".into(),
                code,
                map_relocs: vec![MapReloc {
                    insn_index: 0,
                    map: 0,
                }],
                func: None,
                core_relos: Vec::new(),
                lines: vec![LineSpec {
                    insn_index: 0,
                    file: "probe.lua".into(),
                    line: 3,
                    text: "counts[1] = 2".into(),
                }],
            }],
            btf: Btf::new(),
        }
    }

    #[test]
    fn writes_sections_symbols_and_relocations() {
        let bytes = write_object(&sample()).expect("write");
        let file = object::File::parse(&*bytes).expect("parse");
        assert_eq!(file.architecture(), Architecture::Bpf);
        let text = file
            .section_by_name("tracepoint/raw_syscalls/sys_enter")
            .expect("program section");
        assert_eq!(text.size(), 32);
        let relocs: Vec<_> = text.relocations().collect();
        assert_eq!(relocs.len(), 1);
        assert_eq!(relocs[0].0, 0);
        assert_eq!(
            relocs[0].1.flags(),
            RelocationFlags::Elf {
                r_type: elf::R_BPF_64_64
            }
        );
        // type, max_entries, key_size, value_size: four pointers.
        let maps = file.section_by_name(".maps").expect("maps");
        assert_eq!(maps.size(), 32);
        assert!(file.section_by_name(".BTF").is_some());
        assert!(file.section_by_name(".BTF.ext").is_some());
        let license = file.section_by_name("license").expect("license");
        assert_eq!(license.data().expect("data"), b"GPL\0");
        let func = file
            .symbols()
            .find(|s| s.name() == Ok("on_enter"))
            .expect("func symbol");
        assert_eq!(func.kind(), SymbolKind::Text);
        assert_eq!(func.size(), 32);
        assert!(func.is_global());
        let map = file
            .symbols()
            .find(|s| s.name() == Ok("counts"))
            .expect("map symbol");
        assert_eq!(map.kind(), SymbolKind::Data);
        assert_eq!(map.size(), 32);
    }

    #[test]
    fn deterministic() {
        assert_eq!(
            write_object(&sample()).expect("write"),
            write_object(&sample()).expect("write")
        );
    }

    #[test]
    fn shared_section_concatenates_and_offsets_relocations() {
        let mut spec = sample();
        let mut second = spec.programs[0].clone();
        second.name = "on_enter2".into();
        spec.programs.push(second);
        let bytes = write_object(&spec).expect("write");
        let file = object::File::parse(&*bytes).expect("parse");
        let text = file
            .section_by_name("tracepoint/raw_syscalls/sys_enter")
            .expect("program section");
        assert_eq!(text.size(), 64);
        let offsets: Vec<u64> = text.relocations().map(|(o, _)| o).collect();
        assert_eq!(offsets, [0, 32]);
        let second = file
            .symbols()
            .find(|s| s.name() == Ok("on_enter2"))
            .expect("second symbol");
        assert_eq!(second.address(), 32);
    }

    #[test]
    fn rejects_bad_specs() {
        let mut spec = sample();
        spec.programs[0].map_relocs[0].insn_index = 2;
        assert!(matches!(
            write_object(&spec),
            Err(ElfError::RelocNotMapLoad { .. })
        ));
        let mut spec = sample();
        spec.programs[0].map_relocs[0].map = 3;
        assert!(matches!(
            write_object(&spec),
            Err(ElfError::UnknownMap { .. })
        ));
        let mut spec = sample();
        spec.programs[0].map_relocs[0].insn_index = 3;
        assert!(matches!(
            write_object(&spec),
            Err(ElfError::RelocOutOfRange { .. })
        ));
        let mut spec = sample();
        spec.programs[0].code.pop();
        assert!(matches!(
            write_object(&spec),
            Err(ElfError::BadCodeLength { .. })
        ));
        let mut spec = sample();
        spec.maps[0].name = "on_enter".into();
        assert!(matches!(
            write_object(&spec),
            Err(ElfError::DuplicateName { .. })
        ));
        let mut spec = sample();
        spec.programs[0].section = "maps/x".into();
        assert!(matches!(
            write_object(&spec),
            Err(ElfError::InvalidSection { .. })
        ));
    }
}
