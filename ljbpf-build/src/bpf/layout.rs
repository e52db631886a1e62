//! Stage 6: labels → jump offsets, map loads → relocations, instructions → bytes.

use super::insn::{Insn, MapId, RawInsn, Show};
use super::regalloc::Allocated;

/// A program laid out for the ELF writer.
#[derive(Clone, Debug)]
pub struct Laid {
    /// Encoded instruction slots.
    pub raw: Vec<RawInsn>,
    /// `(slot of the LD_IMM64, map)` for every map load.
    pub relocs: Vec<(usize, MapId)>,
    /// The Lua line of every slot.
    pub lines: Vec<u32>,
    /// Listing lines: (slot, Lua line, kernel-syntax text).
    pub text: Vec<(usize, u32, String)>,
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
pub fn layout(code: &Allocated, maps: &[String]) -> Result<Laid, LayoutError> {
    // Slot of every instruction (LD_IMM64 takes two).
    let mut slot = Vec::with_capacity(code.insns.len() + 1);
    let mut at = 0usize;
    for (insn, _) in &code.insns {
        slot.push(at);
        at += insn.slots() as usize;
    }
    slot.push(at);
    let mut laid = Laid {
        raw: Vec::with_capacity(at),
        relocs: Vec::new(),
        lines: Vec::with_capacity(at),
        text: Vec::new(),
    };
    for (i, (insn, line)) in code.insns.iter().enumerate() {
        let mut offset = 0i16;
        let mut text = Show { insn, maps }.to_string();
        if let Some(l) = insn.target() {
            let Some(t) = code.labels.get(l.0 as usize).copied().flatten() else {
                return Err(LayoutError {
                    line: *line,
                    message: format!("internal error: unbound label {l}"),
                });
            };
            let rel = slot[t] as i64 - (slot[i] as i64 + 1);
            offset = i16::try_from(rel).map_err(|_| LayoutError {
                line: *line,
                message: format!("a jump of {rel} instructions is too far for BPF (at most 32767)"),
            })?;
            text = text.replace(&format!("goto {l}"), &format!("goto pc{rel:+}"));
        }
        if let Insn::LdMap { map, .. } = insn {
            laid.relocs.push((slot[i], *map));
        }
        laid.text.push((slot[i], *line, text));
        insn.encode(offset, &mut laid.raw);
        for _ in 0..insn.slots() {
            laid.lines.push(*line);
        }
    }
    Ok(laid)
}
