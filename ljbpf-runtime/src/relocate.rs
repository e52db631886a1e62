//! Load-time relocation of tracepoint field offsets: the compiler records every instruction
//! whose offset is a position in a tracepoint record ([`FieldReloc`]); before the object goes
//! to aya, each is moved to where the loading kernel has the field, read from that kernel's
//! tracefs `format` file.
//!
//! Why our own table and tracefs rather than CO-RE records in `.BTF.ext`: BTF does not say
//! which event class (record struct) a classic tracepoint uses, aya 0.14 silently skips CO-RE
//! when the kernel has no BTF, and attaching a tracepoint needs tracefs anyway (its event id),
//! so the format file is there on every kernel that can run the program.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

use ljbpf_core::reloc::{FieldReloc, RelocKind};
use ljbpf_core::tracefs::{self, FieldLine};
use object::{Object as _, ObjectSection as _, ObjectSymbol as _};

use crate::{ensure_tracefs, Error, ProbeSpec};

/// The ELF to load: `spec.elf` itself when nothing needs moving, else a patched copy.
pub(crate) fn relocated_elf(spec: &ProbeSpec) -> Result<Cow<'static, [u8]>, Error> {
    if spec.programs.iter().all(|p| p.relocs.is_empty()) {
        return Ok(Cow::Borrowed(spec.elf));
    }
    let events = ensure_tracefs()?.join("events");
    let mut formats: BTreeMap<&str, Vec<FieldLine>> = BTreeMap::new();
    let mut patches: Vec<(usize, &FieldReloc, Patch)> = Vec::new();
    let file = object::File::parse(spec.elf).map_err(|e| elf_error(spec, e.to_string()))?;
    for p in spec.programs {
        if p.relocs.is_empty() {
            continue;
        }
        let symbol = file
            .symbols()
            .find(|s| s.name() == Ok(p.name))
            .ok_or_else(|| elf_error(spec, format!("no symbol for program {}", p.name)))?;
        let section = symbol
            .section_index()
            .and_then(|i| file.section_by_index(i).ok())
            .ok_or_else(|| elf_error(spec, format!("no section for program {}", p.name)))?;
        let (section_at, _) = section
            .file_range()
            .ok_or_else(|| elf_error(spec, format!("program {} has no bytes", p.name)))?;
        for r in p.relocs {
            if !formats.contains_key(r.event.as_ref()) {
                let path = events.join(r.event.as_ref()).join("format");
                if events.is_dir() && !path.exists() {
                    return Err(Error::NoTracepoint {
                        program: p.name.to_string(),
                        event: r.event.to_string(),
                        path,
                        events,
                    });
                }
                formats.insert(r.event.as_ref(), read_format(&path)?);
            }
            let fields = &formats[r.event.as_ref()];
            let location = p
                .location_of(r.insn)
                .map_or_else(|| p.name.to_string(), |l| l.to_string());
            let Some(now) = fields.iter().find(|f| f.name() == r.field) else {
                return Err(Error::MissingField {
                    program: p.name.to_string(),
                    location,
                    event: r.event.to_string(),
                    field: r.field.to_string(),
                });
            };
            let changed = || Error::ChangedField {
                program: p.name.to_string(),
                location: location.clone(),
                event: r.event.to_string(),
                field: r.field.to_string(),
                built: r.size,
                running: now.size,
            };
            let patch = match r.kind {
                RelocKind::StringStart => {
                    // Either form of a string serves: a __data_loc word or a char array.
                    let data_loc = now.decl.starts_with("__data_loc");
                    if !data_loc && !now.decl.contains('[') {
                        return Err(changed());
                    }
                    Patch::String {
                        data_loc,
                        offset: now.offset,
                    }
                }
                RelocKind::Offset => {
                    if now.size != r.size {
                        return Err(changed());
                    }
                    Patch::Offset(now.offset)
                }
            };
            let at = section_at as usize + symbol.address() as usize + r.insn as usize * 8;
            patches.push((at, r, patch));
        }
    }
    let mut elf = spec.elf.to_vec();
    for (at, r, patch) in patches {
        let slot = elf.get_mut(at..at + 8).ok_or_else(|| {
            elf_error(
                spec,
                format!("relocation at byte {at} is outside the object"),
            )
        })?;
        match patch {
            Patch::Offset(offset) => r.apply(slot, offset),
            Patch::String { data_loc, offset } => r.apply_string(slot, data_loc, offset),
        }
        .map_err(|e| elf_error(spec, format!("{} field {}: {e}", r.event, r.field)))?;
    }
    Ok(Cow::Owned(elf))
}

/// What one relocated instruction becomes.
enum Patch {
    /// The field is now at this offset.
    Offset(u32),
    /// The string is now a `__data_loc` word or a char array, at this offset.
    String { data_loc: bool, offset: u32 },
}

fn read_format(path: &Path) -> Result<Vec<FieldLine>, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Tracefs {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(tracefs::fields(&text))
}

fn elf_error(spec: &ProbeSpec, message: String) -> Error {
    Error::Relocation {
        probe: spec.name,
        message,
    }
}
