//! Divisions kept for the verifier become shifts again, with the verifier made to forget the
//! result (after `reload`, before `slots`): `v /= 2^k` in a loop becomes `v >>= k; v |= z`,
//! where `z` is a zero the verifier cannot see through, made once at entry: `*(u16 *)(r10 -
//! o) = 256; z = *(u8 *)(r10 - o); z = -z`.
//!
//! Why: the facts pass keeps a halving in a loop a counter bounds as a division when a
//! condition of the loop compares the value (`while n > 1 and k < 64 do ... n = n / 2 ...
//! end`). The verifier tracks a shift's
//! result exactly, so each history of halvings is a state of its own and the states never
//! prune each other (past the limit of a million instructions); after a division it knows
//! nothing of the value and the histories merge. But a division costs tens of cycles where a
//! shift costs one. `v |= z` costs one too, and widens as the division did: the verifier knows
//! `z` only as some value of 64 bits.
//!
//! How `z` stays opaque: a store of a non-zero immediate at an offset that is not a multiple of
//! 8 is not a spill (`check_stack_write_fixed_off`, Linux 6.1 to 6.18; the two bytes are an
//! [opaque](super::code::StackObject::opaque) object), so they become "some data"
//! (STACK_MISC), and the byte load gives the verifier any value of 0..255 while it gives 0 at
//! run time (the low byte of 256). Negating makes every bit unknown to the verifier: Linux 6.1
//! knows nothing after BPF_NEG; later kernels compute `0 - x` on the known bits, which leaves
//! none. The two bytes are needed only from the store to the load, so `slots` shares them with
//! anything.

use ljbpf_core::insn::{AluOp, Insn, Reg, Size, Src};

use super::code::{Rec, VCode, R};

/// Runs the pass in place.
pub fn run(code: &mut VCode) {
    let depth = code.loop_depth();
    let halvings: Vec<usize> = (0..code.insns.len())
        .filter(|&i| depth[i] > 0 && halving(&code.insns[i].insn).is_some())
        .collect();
    if halvings.is_empty() {
        return;
    }
    let Some(at) = code.opaque_object(2) else {
        return;
    };
    let z = R::V(code.vreg());
    let mut edits = Vec::new();
    for i in halvings {
        let (wide, dst, k) = halving(&code.insns[i].insn).expect("filtered above");
        let line = code.insns[i].line;
        let alu = |op, src| match wide {
            true => Insn::Alu64 { op, dst, src },
            false => Insn::Alu32 { op, dst, src },
        };
        let with = [alu(AluOp::Rsh, Src::Imm(k)), alu(AluOp::Or, Src::Reg(z))];
        edits.push((i, with.map(|insn| Rec::new(insn, line)).to_vec()));
    }
    let line = code.insns[0].line;
    let entry = [
        Insn::St {
            size: Size::H,
            dst: R::P(Reg::R10),
            off: at,
            imm: 256,
        },
        Insn::Ldx {
            size: Size::B,
            dst: z,
            src: R::P(Reg::R10),
            off: at,
        },
        Insn::Alu64 {
            op: AluOp::Neg,
            dst: z,
            src: Src::Imm(0),
        },
    ];
    let mut first: Vec<Rec<R>> = entry.map(|insn| Rec::new(insn, line)).to_vec();
    match edits.first_mut() {
        Some((0, with)) => {
            first.append(with);
            *with = first;
        }
        _ => {
            first.push(code.insns[0].clone());
            edits.push((0, first));
        }
    }
    code.splice(edits);
}

/// `(64-bit?, v, k)` for an unsigned division of `v` by `2^k` (`k` ≥ 1).
fn halving(insn: &Insn<R>) -> Option<(bool, R, i32)> {
    let (wide, dst, d) = match *insn {
        Insn::Alu64 {
            op: AluOp::Div,
            dst,
            src: Src::Imm(d),
        } => (true, dst, d),
        Insn::Alu32 {
            op: AluOp::Div,
            dst,
            src: Src::Imm(d),
        } => (false, dst, d),
        _ => return None,
    };
    (d > 1 && d.count_ones() == 1).then(|| (wide, dst, d.trailing_zeros() as i32))
}

#[cfg(test)]
mod tests {
    use ljbpf_core::insn::{JmpOp, Size};

    use super::super::code::StackObject;
    use super::*;

    /// `while n > 1 do n = n / 2 end` on a packet byte.
    #[test]
    fn a_halving_in_a_loop_becomes_a_shift_or_ed_with_an_opaque_zero() {
        let mut c = VCode::default();
        let n = R::V(c.vreg());
        let (top, out) = (c.label(), c.label());
        c.push(
            Insn::LdAbs {
                size: Size::B,
                imm: 22,
            },
            1,
        );
        c.push(
            Insn::Alu64 {
                op: AluOp::Mov,
                dst: n,
                src: Src::Reg(R::P(Reg::R0)),
            },
            1,
        );
        c.bind(top);
        c.push(
            Insn::Jmp {
                op: JmpOp::Jsle,
                dst: n,
                src: Src::Imm(1),
                target: out,
            },
            2,
        );
        c.push(
            Insn::Alu64 {
                op: AluOp::Div,
                dst: n,
                src: Src::Imm(2),
            },
            2,
        );
        c.push(Insn::Ja { target: top }, 2);
        c.bind(out);
        c.push(Insn::Exit, 3);
        run(&mut c);
        let insns: Vec<Insn<R>> = c.insns.iter().map(|r| r.insn).collect();
        let z = R::V(super::super::code::VReg(1));
        let fp = R::P(Reg::R10);
        assert_eq!(
            insns[..3],
            [
                Insn::St {
                    size: Size::H,
                    dst: fp,
                    off: -2,
                    imm: 256
                },
                Insn::Ldx {
                    size: Size::B,
                    dst: z,
                    src: fp,
                    off: -2
                },
                Insn::Alu64 {
                    op: AluOp::Neg,
                    dst: z,
                    src: Src::Imm(0)
                },
            ]
        );
        assert_eq!(
            insns[6..8],
            [
                Insn::Alu64 {
                    op: AluOp::Rsh,
                    dst: n,
                    src: Src::Imm(1)
                },
                Insn::Alu64 {
                    op: AluOp::Or,
                    dst: n,
                    src: Src::Reg(z)
                },
            ]
        );
        assert_eq!(
            c.objects,
            [StackObject {
                off: 2,
                size: 2,
                opaque: true
            }]
        );
        // The loop still starts at its compare.
        assert_eq!(c.labels[0], Some(5));
    }
}
