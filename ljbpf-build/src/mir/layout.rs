//! Layout: labels → jump offsets, instructions → 8-byte slots. Map loads and kernel-layout
//! relocations keep their slot for the ELF writer.

use ljbpf_core::insn::{Insn, MapId, RawInsn, Reg, Show};
use ljbpf_core::reloc::{FieldReloc, RelocKind};

use super::code::{PCode, Reloc};

/// One instruction at its place.
#[derive(Clone, Debug, PartialEq)]
pub struct Placed {
    /// Its first slot.
    pub slot: usize,
    /// The instruction.
    pub insn: Insn<Reg>,
    /// Its resolved jump offset in slots (0 for non-jumps).
    pub jump: i16,
    /// The Lua line it came from.
    pub line: u32,
    /// What the loader must fix in it.
    pub reloc: Option<Reloc>,
}

impl Placed {
    /// The instruction in kernel syntax, with its jump offset.
    pub fn text(&self, maps: &[String]) -> String {
        Show {
            insn: &self.insn,
            maps,
            jump: self.insn.target().map(|_| self.jump),
        }
        .to_string()
    }
}

/// A program laid out for the ELF writer, the listing and line info.
#[derive(Clone, Debug)]
pub struct Laid {
    /// Encoded instruction slots.
    pub raw: Vec<RawInsn>,
    /// Every instruction at its slot.
    pub insns: Vec<Placed>,
    /// Stack bytes used.
    pub stack_bytes: u32,
}

impl Laid {
    /// `(slot of the LD_IMM64, map)` for every map load.
    pub fn map_relocs(&self) -> impl Iterator<Item = (usize, MapId)> + '_ {
        self.insns.iter().filter_map(|p| match p.insn {
            Insn::LdMap { map, .. } => Some((p.slot, map)),
            _ => None,
        })
    }

    /// `(slot, relocation)` of every address addition that is a kernel struct member's offset
    /// (CO-RE records in `.BTF.ext`).
    pub fn kernel_field_relocs(&self) -> impl Iterator<Item = (usize, &Reloc)> + '_ {
        self.insns.iter().filter_map(|p| match &p.reloc {
            Some(r @ Reloc::KernelField { .. }) => Some((p.slot, r)),
            _ => None,
        })
    }

    /// The tracepoint-layout relocations, by slot.
    pub fn field_relocs(&self) -> Vec<FieldReloc> {
        self.insns
            .iter()
            .filter_map(|p| {
                p.reloc.as_ref().and_then(|r| match r {
                    Reloc::TracepointField {
                        event,
                        field,
                        offset,
                        size,
                        string,
                    } => Some(FieldReloc {
                        insn: p.slot as u32,
                        event: event.clone().into(),
                        field: field.clone().into(),
                        offset: *offset,
                        size: *size,
                        kind: if *string {
                            RelocKind::StringStart
                        } else {
                            RelocKind::Offset
                        },
                    }),
                    Reloc::KernelField { .. } => None,
                })
            })
            .collect()
    }

    /// `(first slot, Lua line)` runs, in slot order.
    pub fn line_runs(&self) -> Vec<(u32, u32)> {
        let mut runs: Vec<(u32, u32)> = Vec::new();
        for p in &self.insns {
            if runs.last().map(|(_, l)| *l) != Some(p.line) {
                runs.push((p.slot as u32, p.line));
            }
        }
        runs
    }
}

/// Layout failures (reported at the Lua line of the instruction).
#[derive(Clone, Debug)]
pub struct LayoutError {
    /// The Lua line.
    pub line: u32,
    /// What went wrong.
    pub message: String,
}

/// Lays out allocated code.
pub fn run(code: &PCode) -> Result<Laid, LayoutError> {
    // Slot of every instruction (LD_IMM64 takes two).
    let mut slot = Vec::with_capacity(code.insns.len() + 1);
    let mut at = 0usize;
    for rec in &code.insns {
        slot.push(at);
        at += rec.insn.slots() as usize;
    }
    slot.push(at);
    let mut laid = Laid {
        raw: Vec::with_capacity(at),
        insns: Vec::with_capacity(code.insns.len()),
        stack_bytes: code.stack_bytes,
    };
    for (i, rec) in code.insns.iter().enumerate() {
        let mut jump = 0i16;
        if let Some(l) = rec.insn.target() {
            let Some(t) = code.labels.get(l.0 as usize).copied().flatten() else {
                return Err(LayoutError {
                    line: rec.line,
                    message: format!("internal error: unbound label {l}"),
                });
            };
            let rel = slot[t] as i64 - (slot[i] as i64 + 1);
            jump = i16::try_from(rel).map_err(|_| LayoutError {
                line: rec.line,
                message: format!("a jump of {rel} instructions is too far for BPF (at most 32767)"),
            })?;
        }
        rec.insn.encode(jump, &mut laid.raw);
        laid.insns.push(Placed {
            slot: slot[i],
            insn: rec.insn,
            jump,
            line: rec.line,
            reloc: rec.reloc.clone(),
        });
    }
    Ok(laid)
}
