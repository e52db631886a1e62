//! Kernel-layout relocations: instructions whose offset or immediate is the position of a
//! field in a record the kernel lays out (today: tracepoint records, which move between kernel
//! versions — e.g. `sched_process_fork`'s `child_pid` is at 44 on Linux 6.1 and at 20 on 6.18).
//! The compiler records them; the loader rewrites each for the loading kernel's layout, or
//! refuses with the probe line when the field is gone or changed size.

use crate::program::Name;

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
}

/// `BPF_LDX` (include/uapi/linux/bpf_common.h): the instruction class of memory loads.
const CLASS_LDX: u8 = 0x01;
/// `BPF_ALU64 | BPF_ADD | BPF_K`: `dst += imm`, how an address inside the record is formed.
const ALU64_ADD_IMM: u8 = 0x07;

impl FieldReloc {
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
}
