//! Used bits (a backward "demanded bits" dataflow): for every register after every
//! instruction, how many of its low bits some later instruction can observe; a sign extension
//! `r = (s32)w` whose result nobody reads above bit 31 is dropped.
//!
//! LuaJIT's bit operations give int32 results (`lj_vmmath.c`/`lj_opt_fold.c` `tobit`), so
//! lowering sign-extends after each 32-bit operation; most of those results end in another
//! 32-bit operation, a `& 255`, a narrow store or the return value, which read only low bits.
//! The low `k` bits of `+ - * << & | ^ neg` depend on the low `k` bits of their operands only,
//! so "only the low `k` bits" travels backwards through them; a 32-bit operation reads the low
//! 32 bits of its operands; a right shift by `c` reads `c` more. Compares, addresses, helper
//! arguments, division and everything else read all 64 bits, so a value the verifier needs a
//! range of (a pointer offset, a helper size, a loop bound) keeps its sign extension.
//!
//! `exit` reads as many bits of R0 as the program kind's caller does
//! ([`ProgramClass::return_bits`](ljbpf_core::program::ProgramClass::return_bits)).

use ljbpf_core::insn::{AluOp, Insn, Reg, Src};
use ljbpf_core::interp::Key;

use super::code::{clobbers, uses_defs, VCode, R};

/// Bits used per register (indexed by [`Key::key`]): register `r` is read in its low `d[r]`
/// bits at most (0: not at all).
type Demand = Vec<u8>;

/// How many low bits an immediate mask `m` lets through.
fn mask_width(m: u64) -> u8 {
    64 - m.leading_zeros() as u8
}

/// `before` (the demand on entry) from `after` (the demand on exit) across `insn`.
fn transfer(insn: &Insn<R>, after: &Demand, ret_bits: u8) -> Demand {
    let mut d = after.clone();
    let need = |d: &mut Demand, r: R, k: u8| {
        let e = &mut d[r.key()];
        *e = (*e).max(k);
    };
    match insn {
        Insn::Alu64 { op, dst, src } | Insn::Alu32 { op, dst, src } => {
            let wide = matches!(insn, Insn::Alu64 { .. });
            let full: u8 = if wide { 64 } else { 32 };
            let k = after[dst.key()].min(full);
            let imm = match src {
                Src::Imm(i) if wide => Some(*i as i64 as u64),
                Src::Imm(i) => Some(u64::from(*i as u32)),
                Src::Reg(_) => None,
            };
            // (bits of dst read, bits of src read) to make the low `k` bits of the result.
            let (a, b) = match op {
                _ if k == 0 => (0, 0),
                AluOp::Mov => (0, k),
                AluOp::Add | AluOp::Sub | AluOp::Mul | AluOp::Or | AluOp::Xor | AluOp::Neg => {
                    (k, k)
                }
                AluOp::And => match imm {
                    Some(m) => (k.min(mask_width(m)), 0),
                    None => (k, k),
                },
                AluOp::Lsh => match imm {
                    Some(c) if c < u64::from(full) => (k.saturating_sub(c as u8), 0),
                    _ => (full, full),
                },
                AluOp::Rsh | AluOp::Arsh => match imm {
                    Some(c) if c < u64::from(full) => ((k + c as u8).min(full), 0),
                    _ => (full, full),
                },
                AluOp::Div | AluOp::Mod | AluOp::SDiv | AluOp::SMod => (full, full),
            };
            d[dst.key()] = 0;
            need(&mut d, *dst, a);
            if let Src::Reg(s) = src {
                need(&mut d, *s, b);
            }
        }
        // The low 32 bits pass unchanged; the rest copy bit 31.
        Insn::Sext32 { dst } => {
            let k = after[dst.key()];
            d[dst.key()] = if k == 0 { 0 } else { k.min(32) };
        }
        Insn::ToBe { dst, bits } => {
            d[dst.key()] = if after[dst.key()] == 0 { 0 } else { *bits };
        }
        Insn::Stx { size, dst, src, .. } | Insn::AtomicAdd { size, dst, src, .. } => {
            need(&mut d, *src, size.bytes() as u8 * 8);
            need(&mut d, *dst, 64);
        }
        Insn::Exit => need(&mut d, R::P(Reg::R0), ret_bits),
        Insn::LdImm64 { .. }
        | Insn::LdMap { .. }
        | Insn::Ldx { .. }
        | Insn::St { .. }
        | Insn::LdAbs { .. }
        | Insn::LdInd { .. }
        | Insn::Ja { .. }
        | Insn::Jmp { .. }
        | Insn::Call { .. } => {
            let (uses, defs) = uses_defs(insn);
            if clobbers(insn) {
                d[..=5].fill(0);
            }
            for r in defs {
                d[r.key()] = 0;
            }
            for r in uses {
                need(&mut d, r, 64);
            }
        }
    }
    d
}

/// The demand on entry to each instruction.
fn demand_in(code: &VCode, ret_bits: u8) -> Vec<Demand> {
    let n = code.insns.len();
    let regs = R::V(super::code::VReg(code.vregs)).key();
    let succs = code.successors();
    let mut inn: Vec<Demand> = vec![vec![0; regs]; n];
    let mut changed = true;
    while changed {
        changed = false;
        for i in (0..n).rev() {
            let before = transfer(
                &code.insns[i].insn,
                &demand_out(&inn, &succs[i], regs),
                ret_bits,
            );
            if before != inn[i] {
                inn[i] = before;
                changed = true;
            }
        }
    }
    inn
}

/// The demand on exit from an instruction: what its successors demand on entry.
fn demand_out(inn: &[Demand], succs: &[usize], regs: usize) -> Demand {
    let mut o = vec![0u8; regs];
    for &s in succs {
        for (a, b) in o.iter_mut().zip(&inn[s]) {
            *a = (*a).max(*b);
        }
    }
    o
}

/// Runs the pass in place; `ret_bits`: how many low bits of R0 the program's caller reads.
pub fn run(code: &mut VCode, ret_bits: u8) {
    let inn = demand_in(code, ret_bits);
    let succs = code.successors();
    let regs = R::V(super::code::VReg(code.vregs)).key();
    // Only a sign extension needs the demand after it; the others' is not kept.
    let keep: Vec<bool> = code
        .insns
        .iter()
        .zip(&succs)
        .map(|(rec, ss)| match rec.insn {
            Insn::Sext32 { dst } => demand_out(&inn, ss, regs)[dst.key()] > 32,
            _ => true,
        })
        .collect();
    if keep.iter().any(|k| !k) {
        code.retain(&keep);
    }
}

#[cfg(test)]
mod tests {
    use ljbpf_core::insn::{JmpOp, Size};

    use super::super::code::VReg;
    use super::*;

    fn v(n: u32) -> R {
        R::V(VReg(n))
    }

    /// `v0 = byte; w(v0) op= 1; v0 = (s32)w(v0)`, then `tail`: how many sign extensions stay.
    fn sexts_left(op: AluOp, tail: &[Insn<R>], ret_bits: u8) -> usize {
        let mut code = VCode {
            vregs: 3,
            ..VCode::default()
        };
        let ctx = R::P(Reg(1));
        let mut insns = vec![
            Insn::Ldx {
                size: Size::B,
                dst: v(0),
                src: ctx,
                off: 0,
            },
            Insn::Alu32 {
                op,
                dst: v(0),
                src: Src::Imm(1),
            },
            Insn::Sext32 { dst: v(0) },
        ];
        insns.extend_from_slice(tail);
        for i in insns {
            code.push(i, 1);
        }
        run(&mut code, ret_bits);
        code.insns
            .iter()
            .filter(|r| matches!(r.insn, Insn::Sext32 { .. }))
            .count()
    }

    fn alu64(op: AluOp, dst: R, src: Src<R>) -> Insn<R> {
        Insn::Alu64 { op, dst, src }
    }

    fn ret(r: R) -> [Insn<R>; 2] {
        [alu64(AluOp::Mov, R::P(Reg::R0), Src::Reg(r)), Insn::Exit]
    }

    #[test]
    fn low_bit_users_drop_the_extension() {
        // A 32-bit operation, a byte mask, a u32 store, a 32-bit return.
        let w_op = [Insn::Alu32 {
            op: AluOp::Xor,
            dst: v(0),
            src: Src::Imm(3),
        }];
        let mask = [alu64(AluOp::And, v(0), Src::Imm(255))];
        let store = [Insn::Stx {
            size: Size::W,
            dst: R::P(Reg::R10),
            src: v(0),
            off: -8,
        }];
        for tail in [&w_op[..], &mask[..], &store[..]] {
            let mut t = tail.to_vec();
            t.extend(ret(v(1)));
            assert_eq!(sexts_left(AluOp::Lsh, &t, 64), 0, "{tail:?}");
        }
        // Through additions and a left shift to a 32-bit return.
        let mut t = vec![
            alu64(AluOp::Add, v(0), Src::Reg(v(0))),
            alu64(AluOp::Lsh, v(0), Src::Imm(3)),
        ];
        t.extend(ret(v(0)));
        assert_eq!(sexts_left(AluOp::Xor, &t, 32), 0);
    }

    #[test]
    fn high_bit_users_keep_the_extension() {
        let cmp = [
            Insn::Jmp {
                op: JmpOp::Jsgt,
                dst: v(0),
                src: Src::Imm(0),
                target: ljbpf_core::insn::Label(0),
            },
            Insn::Exit,
        ];
        let store = [Insn::Stx {
            size: Size::DW,
            dst: R::P(Reg::R10),
            src: v(0),
            off: -8,
        }];
        // A right shift by 1 of the sign extension reads bit 32 for result bit 31.
        let mut shift = vec![
            alu64(AluOp::Rsh, v(0), Src::Imm(1)),
            Insn::Alu32 {
                op: AluOp::Mov,
                dst: v(1),
                src: Src::Reg(v(0)),
            },
        ];
        shift.extend(ret(v(1)));
        // A pointer offset.
        let mut ptr = vec![
            alu64(AluOp::Mov, v(1), Src::Reg(R::P(Reg::R10))),
            alu64(AluOp::Add, v(1), Src::Reg(v(0))),
            Insn::Ldx {
                size: Size::B,
                dst: v(2),
                src: v(1),
                off: 0,
            },
        ];
        ptr.extend(ret(v(2)));
        let mut wide_ret = vec![alu64(AluOp::Add, v(0), Src::Imm(1))];
        wide_ret.extend(ret(v(0)));
        for (tail, bits) in [
            (&cmp[..], 32),
            (&store[..], 32),
            (&shift[..], 32),
            (&ptr[..], 32),
            (&wide_ret[..], 64),
        ] {
            assert_eq!(sexts_left(AluOp::Xor, tail, bits), 1, "{tail:?}");
        }
    }

    #[test]
    fn a_join_takes_the_widest_use() {
        // One path stores the value narrow, the other compares it.
        let l = ljbpf_core::insn::Label(0);
        let mut code = VCode {
            vregs: 1,
            labels: vec![None],
            ..VCode::default()
        };
        let insns = [
            Insn::Ldx {
                size: Size::W,
                dst: v(0),
                src: R::P(Reg(1)),
                off: 0,
            },
            Insn::Sext32 { dst: v(0) },
            Insn::Jmp {
                op: JmpOp::Jeq,
                dst: R::P(Reg(1)),
                src: Src::Imm(0),
                target: l,
            },
            Insn::Stx {
                size: Size::B,
                dst: R::P(Reg::R10),
                src: v(0),
                off: -8,
            },
            Insn::Exit,
        ];
        for (i, insn) in insns.into_iter().enumerate() {
            if i == 4 {
                code.bind(l);
                code.push(
                    Insn::Jmp {
                        op: JmpOp::Jsgt,
                        dst: v(0),
                        src: Src::Imm(0),
                        target: l,
                    },
                    1,
                );
            }
            code.push(insn, 1);
        }
        let before = code.insns.len();
        run(&mut code, 32);
        assert_eq!(code.insns.len(), before);
    }
}
