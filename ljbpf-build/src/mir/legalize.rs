//! Legalisation for a target ISA level: rewrites the instructions the level lacks into
//! sequences of older ones with the same results, so the object loads on every kernel that
//! has the level ([`Isa::since`]).
//!
//! - v4's signed division and modulo become unsigned ones on magnitudes, with the sign restored
//!   branch-free (`m = x s>> 63; |x| = (x ^ m) - m`, and negating by `m` the same way). BPF's
//!   rules carry over: `x / 0 = 0` (the unsigned quotient of `|x| / 0` is 0 and its sign
//!   correction leaves 0) and `x % 0 = x` (`|x| % 0 = |x|`, given back the sign of `x`);
//!   `INT64_MIN / -1` wraps to `INT64_MIN` as in v4 (Documentation/bpf/standardization/
//!   instruction-set.rst, "Arithmetic instructions"). By a power of two, the unsigned
//!   operation is a shift or a mask.
//! - v4's sign-extending move `r = (s32)w` becomes `r <<= 32; r s>>= 32`.
//! - for v1, v2's "less than" jumps swap their register operands (`a < b` is `b > a`), or, with
//!   an immediate, jump over an unconditional jump on the negated condition.

use ljbpf_core::insn::{AluOp, Insn, Isa, Src};

use super::code::{Rec, VCode, R};

/// Runs the pass in place.
pub fn run(code: &mut VCode, isa: Isa) {
    if code.insns.iter().all(|r| r.insn.min_isa() <= isa) {
        return;
    }
    let counted = super::counters::counted(code);
    let old = std::mem::take(&mut code.insns);
    // Labels made here are bound to new positions already; only the older ones move.
    let old_labels = code.labels.len();
    let mut new_index = vec![0usize; old.len() + 1];
    for (i, rec) in old.into_iter().enumerate() {
        new_index[i] = code.insns.len();
        if rec.insn.min_isa() <= isa {
            code.insns.push(rec);
            continue;
        }
        let line = rec.line;
        let mut out: Vec<Insn<R>> = Vec::new();
        match rec.insn {
            Insn::Alu64 { op, dst, src } if matches!(op, AluOp::SDiv | AluOp::SMod) => {
                let shift = !counted[i];
                signed_divide(code, &mut out, true, op == AluOp::SDiv, shift, dst, src);
            }
            Insn::Alu32 { op, dst, src } if matches!(op, AluOp::SDiv | AluOp::SMod) => {
                let shift = !counted[i];
                signed_divide(code, &mut out, false, op == AluOp::SDiv, shift, dst, src);
            }
            Insn::Sext32 { dst } => {
                out.push(Insn::Alu64 {
                    op: AluOp::Lsh,
                    dst,
                    src: Src::Imm(32),
                });
                out.push(Insn::Alu64 {
                    op: AluOp::Arsh,
                    dst,
                    src: Src::Imm(32),
                });
            }
            Insn::Jmp {
                op,
                dst,
                src,
                target,
            } => match (src, op.swap(), op.negate()) {
                (Src::Reg(s), Some(swapped), _) if swapped.min_isa() <= isa => {
                    out.push(Insn::Jmp {
                        op: swapped,
                        dst: s,
                        src: Src::Reg(dst),
                        target,
                    });
                }
                (_, _, Some(negated)) if negated.min_isa() <= isa => {
                    // `if !(dst op src) goto over; goto target; over:`
                    let over = code.label();
                    out.push(Insn::Jmp {
                        op: negated,
                        dst,
                        src,
                        target: over,
                    });
                    out.push(Insn::Ja { target });
                    for x in out.drain(..) {
                        code.insns.push(Rec::new(x, line));
                    }
                    code.bind(over);
                    continue;
                }
                _ => out.push(rec.insn),
            },
            other => out.push(other),
        }
        let mut first = true;
        for x in out {
            // The original's relocation stays with the instruction that carries its operand.
            let reloc = if first { rec.reloc.clone() } else { None };
            first = false;
            code.insns.push(Rec {
                insn: x,
                line,
                reloc,
            });
        }
    }
    let end = new_index.len() - 1;
    new_index[end] = code.insns.len();
    for l in code.labels[..old_labels].iter_mut().flatten() {
        *l = new_index[*l];
    }
}

/// `dst = dst s/ src` (or `s%`) in 64 or 32 bits, from unsigned division on magnitudes. The
/// remainder of a magnitude by a power of two is a mask, and its quotient a shift where
/// `shift` says so (outside loops a counter bounds: in such a loop the division stays, and
/// `widen` makes it a shift the verifier cannot follow through each history of halvings).
fn signed_divide(
    code: &mut VCode,
    out: &mut Vec<Insn<R>>,
    wide: bool,
    divide: bool,
    shift: bool,
    dst: R,
    src: Src<R>,
) {
    let alu = |op: AluOp, dst: R, src: Src<R>| {
        if wide {
            Insn::Alu64 { op, dst, src }
        } else {
            Insn::Alu32 { op, dst, src }
        }
    };
    let sign_bit = if wide { 63 } else { 31 };
    let unsigned = if divide { AluOp::Div } else { AluOp::Mod };
    // m = sign mask of x (all ones when negative); x = |x|.
    let magnitude = |out: &mut Vec<Insn<R>>, x: R, m: R| {
        out.push(alu(AluOp::Mov, m, Src::Reg(x)));
        out.push(alu(AluOp::Arsh, m, Src::Imm(sign_bit)));
        out.push(alu(AluOp::Xor, x, Src::Reg(m)));
        out.push(alu(AluOp::Sub, x, Src::Reg(m)));
    };
    let ma = R::V(code.vreg());
    magnitude(out, dst, ma);
    match src {
        // A positive constant divisor is its own magnitude: the result's sign is the
        // dividend's for both `/` and `%`.
        Src::Imm(k) if k > 1 && k.count_ones() == 1 && (shift || !divide) => {
            out.push(match divide {
                true => alu(AluOp::Rsh, dst, Src::Imm(k.trailing_zeros() as i32)),
                false => alu(AluOp::And, dst, Src::Imm(k - 1)),
            });
        }
        Src::Imm(k) if k > 0 => {
            out.push(alu(unsigned, dst, Src::Imm(k)));
        }
        _ => {
            let b = R::V(code.vreg());
            out.push(alu(AluOp::Mov, b, src));
            let mb = R::V(code.vreg());
            magnitude(out, b, mb);
            out.push(alu(unsigned, dst, Src::Reg(b)));
            if divide {
                // The quotient is negative when exactly one operand is.
                out.push(alu(AluOp::Xor, ma, Src::Reg(mb)));
            }
        }
    }
    out.push(alu(AluOp::Xor, dst, Src::Reg(ma)));
    out.push(alu(AluOp::Sub, dst, Src::Reg(ma)));
}
