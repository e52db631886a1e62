//! Packet loads whose range the verifier needs go through the stack (after `dce`, before
//! `slots`): `r0 = *(u8 *)skb[k]; v = r0` becomes `r0 = *(u8 *)skb[k];
//! *(u8 *)(r10 - o) = r0; v = r10; v = *(u8 *)(v - o)`.
//!
//! Why: when the verifier needs to know a register's range exactly (an array index added to a
//! pointer, a loop bound it compares against, a helper's size), it marks the register
//! *precise* and walks back through the instructions that computed it, marking their sources
//! precise too. It cannot walk through LD_ABS/LD_IND: it gives up and marks every scalar of
//! every state precise (`backtrack_insn` returns -ENOTSUPP, "falling back to forcing all
//! scalars precise", Linux 6.1 to 6.18 kernel/bpf/verifier.c). A precise register stops
//! states from pruning each other unless their ranges agree, so after a loop bounded by a
//! packet byte, each of its histories (a counter 0, 1, 2, ... of matching bytes) is verified
//! on its own through the rest of the program, past the limit of a million instructions.
//!
//! A load from stack bytes that no register was spilled to ends the walk on Linux 6.18: the
//! verifier knows nothing of their history. A narrow store of a register is a spill only at an
//! offset that is a multiple of 8 (`check_stack_write_fixed_off`), so the bytes used here are
//! an [opaque](super::code::StackObject::opaque) object per width, aligned as the verifier
//! requires and never at a multiple of 8; `slots` then puts it in bytes nothing else needs at
//! that point.
//! Linux 6.1 follows every load through R10 back to the store, and stops only at a load
//! through another register, so the load goes through a copy of R10:
//! `v = r10; v = *(u8 *)(v - o)`. What it gives is what the packet load gave (both
//! zero-extend), and the range the verifier learns from it is the width's, as a mask would
//! give.

use ljbpf_core::insn::{AluOp, Insn, Reg, Src};

use super::code::{clobbers, uses_defs, Rec, VCode, R};
use super::facts;

/// Runs the pass in place.
pub fn run(code: &mut VCode) {
    let n = code.insns.len();
    let precise = facts::precise(code);
    let landed = code.landed();
    // One object per width, which `slots` then places in bytes nothing else needs there.
    let mut objects: [Option<i16>; 3] = [None; 3];
    let mut edits = Vec::new();
    for i in 1..n {
        let (Insn::LdAbs { size, .. } | Insn::LdInd { size, .. }) = code.insns[i - 1].insn else {
            continue;
        };
        let Insn::Alu64 {
            op: AluOp::Mov,
            dst: R::V(v),
            src: Src::Reg(R::P(Reg::R0)),
        } = code.insns[i].insn
        else {
            continue;
        };
        if landed[i] || !precise[v.0 as usize] {
            continue;
        }
        let width = size.bytes();
        let slot = &mut objects[width.trailing_zeros() as usize];
        let Some(at) = slot.or_else(|| code.opaque_object(width)) else {
            continue;
        };
        *slot = Some(at);
        let line = code.insns[i].line;
        let store = Insn::Stx {
            size,
            dst: R::P(Reg::R10),
            src: R::P(Reg::R0),
            off: at,
        };
        let fp = Insn::Alu64 {
            op: AluOp::Mov,
            dst: R::V(v),
            src: Src::Reg(R::P(Reg::R10)),
        };
        let load = Insn::Ldx {
            size,
            dst: R::V(v),
            src: R::V(v),
            off: at,
        };
        let with = [store, fp, load].map(|insn| Rec::new(insn, line));
        edits.push((i, with.to_vec()));
        edits.extend(
            masks_after(code, &landed, i, R::V(v), size.bytes() * 8)
                .into_iter()
                .map(|j| (j, vec![])),
        );
    }
    code.splice(edits);
}

/// The masks to the load's width in the straight code after `at`, where `v` got the reloaded
/// value: the verifier knows the width from the load, as the mask was there to tell it. The
/// width follows the value through copies and byte swaps of the same width (`ntoh` of a
/// field: `v = be16 v; v &= 0xffff; w = v; w = be16 w`).
fn masks_after(code: &VCode, landed: &[bool], at: usize, v: R, bits: u32) -> Vec<usize> {
    let mask = (1i64 << bits) - 1;
    let mut narrow = vec![v];
    let mut out = Vec::new();
    for (j, rec) in code.insns.iter().enumerate().skip(at + 1) {
        if landed[j] || narrow.is_empty() {
            break;
        }
        let insn = rec.insn;
        match insn {
            Insn::Alu64 {
                op: AluOp::And,
                dst,
                src: Src::Imm(k),
            } if narrow.contains(&dst) && i64::from(k) & mask == mask => {
                out.push(j);
                continue;
            }
            Insn::Alu64 {
                op: AluOp::Mov,
                dst,
                src: Src::Reg(s),
            } if narrow.contains(&s) => {
                narrow.retain(|r| *r != dst);
                narrow.push(dst);
                continue;
            }
            Insn::ToBe { dst, bits: b } if narrow.contains(&dst) && u32::from(b) == bits => {
                continue;
            }
            _ => {}
        }
        if insn.target().is_some() || insn.is_terminator() || clobbers(&insn) {
            break;
        }
        for d in uses_defs(&insn).1 {
            narrow.retain(|r| *r != d);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use ljbpf_core::insn::{JmpOp, Size};

    use super::super::code::StackObject;
    use super::*;

    /// `n = pkt[k] & 255` (the mask kept: a loop compares `i` with it), then `for i = 0, n`.
    fn bounded_by_a_byte() -> VCode {
        let mut c = VCode::default();
        let (n, i) = (R::V(c.vreg()), R::V(c.vreg()));
        let top = c.label();
        let alu = |op, dst, src| Insn::Alu64 { op, dst, src };
        c.push(alu(AluOp::Mov, R::P(Reg::R6), Src::Reg(R::P(Reg::R1))), 1);
        c.push(
            Insn::LdAbs {
                size: Size::B,
                imm: 41,
            },
            1,
        );
        c.push(alu(AluOp::Mov, n, Src::Reg(R::P(Reg::R0))), 1);
        c.push(alu(AluOp::And, n, Src::Imm(255)), 1);
        c.push(alu(AluOp::Mov, i, Src::Imm(0)), 2);
        c.bind(top);
        c.push(alu(AluOp::Add, i, Src::Imm(1)), 2);
        c.push(
            Insn::Jmp {
                op: JmpOp::Jsle,
                dst: i,
                src: Src::Reg(n),
                target: top,
            },
            2,
        );
        c.push(alu(AluOp::Mov, R::P(Reg::R0), Src::Reg(i)), 3);
        c.push(Insn::Exit, 3);
        c.stack_bytes = 4;
        c
    }

    #[test]
    fn a_loop_bound_read_from_the_packet_is_reloaded_from_the_stack() {
        let mut c = bounded_by_a_byte();
        run(&mut c);
        let fp = R::P(Reg::R10);
        let r0 = R::P(Reg::R0);
        let insns: Vec<Insn<R>> = c.insns.iter().map(|r| r.insn).collect();
        // A new object below the 4 bytes used, its top byte (never at a multiple of 8).
        let (size, off) = (Size::B, -9);
        let n = R::V(super::super::code::VReg(0));
        assert_eq!(
            insns[2..5],
            [
                Insn::Stx {
                    size,
                    dst: fp,
                    src: r0,
                    off
                },
                Insn::Alu64 {
                    op: AluOp::Mov,
                    dst: n,
                    src: Src::Reg(fp)
                },
                Insn::Ldx {
                    size,
                    dst: n,
                    src: n,
                    off
                },
            ]
        );
        // The mask is the load's.
        assert!(!insns
            .iter()
            .any(|i| matches!(i, Insn::Alu64 { op: AluOp::And, .. })));
        assert_eq!(
            (c.stack_bytes, c.objects.last().copied()),
            (
                16,
                Some(StackObject {
                    off: 9,
                    size: 1,
                    opaque: true
                })
            )
        );
        // The label still marks the loop's first instruction.
        assert_eq!(c.labels[0], Some(6));
    }
}
