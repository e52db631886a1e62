//! Kernel-layout relocations: instructions whose offset or immediate is the position of a
//! field in a record the kernel lays out (today: tracepoint records, which move between kernel
//! versions — e.g. `sched_process_fork`'s `child_pid` is at 44 on Linux 6.1 and at 20 on 6.18).
//! The compiler records them; the loader rewrites each for the loading kernel's layout, or
//! refuses with the probe line when the field is gone or changed size.

use crate::program::Name;

/// What the relocated instruction computes from the field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RelocKind {
    /// A load's offset or an address addition's immediate inside the field: moves with it.
    Offset,
    /// Where a string field's bytes start, relative to the record (before `& 0xffff`): a load
    /// of the field's `__data_loc` word (`dst = *(u32 *)(r6 + off)`), or, for a `char` array
    /// in the record, the field's offset itself (`dst = off`). The loader writes whichever the
    /// loading kernel's field needs: the comm fields of `sched` tracepoints became `__data_loc`
    /// strings in Linux 6.10.
    StringStart,
}

/// One instruction that depends on where a tracepoint field is.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FieldReloc {
    /// The instruction's slot in its program.
    pub insn: u32,
    /// The tracepoint, `category/name`.
    pub event: Name,
    /// The field's name in the event's format.
    pub field: Name,
    /// The field's offset in the layout the program was compiled against.
    pub offset: u32,
    /// The field's size in that layout.
    pub size: u32,
    /// What the instruction computes from the field.
    pub kind: RelocKind,
}

/// `BPF_LDX` (include/uapi/linux/bpf_common.h): the instruction class of memory loads.
const CLASS_LDX: u8 = 0x01;
/// `BPF_ALU64 | BPF_ADD | BPF_K`: `dst += imm`, how an address inside the record is formed.
const ALU64_ADD_IMM: u8 = 0x07;

/// The register ljbpf keeps a program's context in (lowering puts R1 there at entry).
const CTX_REG: u8 = 6;
/// `BPF_LDX | BPF_MEM | BPF_W`.
const LDX_W: u8 = 0x61;
/// `BPF_ALU64 | BPF_MOV | BPF_K`.
const MOV64_IMM: u8 = 0xb7;

impl FieldReloc {
    /// Rewrites `slot` for a [`RelocKind::StringStart`] whose field is now at `new_offset`,
    /// as a `__data_loc` word (`data_loc`) or as the characters themselves.
    pub fn apply_string(
        &self,
        slot: &mut [u8],
        data_loc: bool,
        new_offset: u32,
    ) -> Result<(), String> {
        if slot.len() != 8 || !matches!(slot[0], LDX_W | MOV64_IMM) {
            return Err("not a string start".into());
        }
        let dst = slot[1] & 0x0f;
        let off = i16::try_from(new_offset).map_err(|_| "offset too large")?;
        let raw: [u8; 8] = if data_loc {
            let [o0, o1] = off.to_le_bytes();
            [LDX_W, (CTX_REG << 4) | dst, o0, o1, 0, 0, 0, 0]
        } else {
            let [i0, i1, i2, i3] = i32::from(off).to_le_bytes();
            [MOV64_IMM, dst, 0, 0, i0, i1, i2, i3]
        };
        slot.copy_from_slice(&raw);
        Ok(())
    }

    /// Rewrites `slot` (one 8-byte instruction) for the field now being at `new_offset`: a
    /// load's offset or an address addition's immediate moves by the same amount the field did.
    pub fn apply(&self, slot: &mut [u8], new_offset: u32) -> Result<(), String> {
        let Some(code) = slot.first().copied() else {
            return Err("no instruction".into());
        };
        if slot.len() != 8 {
            return Err("an instruction is 8 bytes".into());
        }
        let delta = i64::from(new_offset) - i64::from(self.offset);
        if code & 0x07 == CLASS_LDX {
            let old = i16::from_le_bytes([slot[2], slot[3]]);
            let new = i16::try_from(i64::from(old) + delta)
                .map_err(|_| format!("offset {} does not fit a load", i64::from(old) + delta))?;
            slot[2..4].copy_from_slice(&new.to_le_bytes());
        } else if code == ALU64_ADD_IMM {
            let old = i32::from_le_bytes([slot[4], slot[5], slot[6], slot[7]]);
            let new = i32::try_from(i64::from(old) + delta).map_err(|_| "offset overflows")?;
            slot[4..8].copy_from_slice(&new.to_le_bytes());
        } else {
            return Err(format!("instruction {code:#04x} carries no field offset"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reloc(offset: u32) -> FieldReloc {
        FieldReloc {
            insn: 0,
            event: "sched/sched_process_fork".into(),
            field: "child_pid".into(),
            offset,
            size: 4,
            kind: RelocKind::Offset,
        }
    }

    #[test]
    fn loads_and_additions_move_with_the_field() {
        // r0 = *(u32 *)(r6 + 44)
        let mut ldx = [0x61, 0x60, 44, 0, 0, 0, 0, 0];
        reloc(44).apply(&mut ldx, 20).unwrap();
        assert_eq!(i16::from_le_bytes([ldx[2], ldx[3]]), 20);
        // r1 += 46: two bytes into a field at 44
        let mut add = [0x07, 0x01, 0, 0, 46, 0, 0, 0];
        reloc(44).apply(&mut add, 60).unwrap();
        assert_eq!(i32::from_le_bytes([add[4], add[5], add[6], add[7]]), 62);
        // anything else is refused
        let mut exit = [0x95, 0, 0, 0, 0, 0, 0, 0];
        assert!(reloc(44).apply(&mut exit, 20).is_err());
    }

    #[test]
    fn a_string_start_becomes_a_load_or_a_constant() {
        // r3 = *(u32 *)(r6 + 8): a __data_loc word; on a kernel with `char comm[16]` at 28...
        let mut slot = [0x61, 0x63, 8, 0, 0, 0, 0, 0];
        reloc(8).apply_string(&mut slot, false, 28).unwrap();
        assert_eq!(slot, [0xb7, 0x03, 0, 0, 28, 0, 0, 0]);
        // ... and back to a load at another place.
        reloc(28).apply_string(&mut slot, true, 16).unwrap();
        assert_eq!(slot, [0x61, 0x63, 16, 0, 0, 0, 0, 0]);
    }
}
