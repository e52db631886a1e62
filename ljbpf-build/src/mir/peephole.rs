//! Peephole simplification after register allocation, where copies have been coalesced and a
//! value's successive rewrites sit in one register:
//!
//! - `r = be16 r; r &= 0xffff; r = be16 r` → `r &= 0xffff` (and the 32-bit form with the
//!   zero-extending `w = w`): a network-order packet field read and converted back by `ntoh`.
//!   On little-endian, `be16` swaps the low 16 bits and clears the rest
//!   (Documentation/bpf/standardization/instruction-set.rst, "Byte swap instructions"), so two
//!   swaps are the zero-extension, which the mask between them already is. The mask stays: the
//!   verifier learns the value's range from it.
//! - `r = beN r; r = beN r` → the zero-extension alone (nothing for 64 bits, nor right after
//!   an N-bit packet load, which zero-extends; the facts pass has already dropped the mask
//!   between the swaps only where the verifier needs no range from it).
//!
//! - `rX = K; if rX op rY goto L` → `if rY op' K goto L` (op' the swapped condition) when rX is
//!   read nowhere after: a constant compared with a register needs no register of its own.
//!
//! - `rX += K; r0 = skb[rX + imm]` → `r0 = skb[rX + imm + K]` when the load clobbers rX (after
//!   the `jumps` pass, [`indirect_offsets`]).
//!
//! Only instructions no jump lands between are rewritten.

use ljbpf_core::insn::{AluOp, Insn, Isa, Reg, Src};

use super::code::{uses_defs, PCode};

/// The instruction that keeps the low `bits` of `r` and clears the rest, if one is needed.
fn zero_extend(r: Reg, bits: u8) -> Option<Insn<Reg>> {
    match bits {
        16 => Some(Insn::Alu64 {
            op: AluOp::And,
            dst: r,
            src: Src::Imm(0xffff),
        }),
        32 => Some(Insn::Alu32 {
            op: AluOp::Mov,
            dst: r,
            src: Src::Reg(r),
        }),
        _ => None,
    }
}

/// Physical registers live on entry to each instruction (bit r = register r), backward dataflow.
/// Calls are not taken to kill R1-R5, which only keeps more alive than is.
fn live_in(code: &PCode) -> Vec<u16> {
    let n = code.insns.len();
    let succs = code.successors();
    let mut live = vec![0u16; n];
    let mut changed = true;
    while changed {
        changed = false;
        for i in (0..n).rev() {
            let out = succs[i].iter().fold(0u16, |acc, &s| acc | live[s]);
            let (uses, defs) = uses_defs(&code.insns[i].insn);
            let mut inn = out;
            for d in defs {
                inn &= !(1 << d.0);
            }
            for u in uses {
                inn |= 1 << u.0;
            }
            if inn != live[i] {
                live[i] = inn;
                changed = true;
            }
        }
    }
    live
}

/// `rX += K; r0 = *(size *)skb[rX + imm]` → `r0 = *(size *)skb[rX + imm + K]` when rX is one of
/// R0-R5, which the load clobbers (the dissector's constant offset added to a computed one,
/// in a loop over the payload on every iteration). The kernel computes the offset in 32 bits
/// either way (`bpf_gen_ld_abs` in net/core/filter.c: `r2 = src; r2 += imm`, the helper taking
/// an `int`), so the wrapped sum of the two constants is the same offset; the verifier does
/// not bound LD_IND's source (`check_ld_abs` only wants it initialised).
///
/// It runs after `jumps`, which removes what lowering may leave between the two (a jump to the
/// load over dead code).
pub fn indirect_offsets(code: &mut PCode) {
    let n = code.insns.len();
    let mut targeted = vec![false; n + 1];
    for rec in &code.insns {
        if let Some(t) = code.target_index(&rec.insn) {
            targeted[t.min(n)] = true;
        }
    }
    let mut keep = vec![true; n];
    for i in 0..code.insns.len().saturating_sub(1) {
        let Insn::Alu64 {
            op: AluOp::Add,
            dst: x,
            src: Src::Imm(k),
        } = code.insns[i].insn
        else {
            continue;
        };
        let Insn::LdInd { size, src, imm } = code.insns[i + 1].insn else {
            continue;
        };
        if src != x
            || x.0 > 5
            || !keep[i]
            || targeted[i + 1]
            || code.insns[i].reloc.is_some()
            || code.insns[i + 1].reloc.is_some()
        {
            continue;
        }
        keep[i] = false;
        code.insns[i + 1].insn = Insn::LdInd {
            size,
            src,
            imm: imm.wrapping_add(k),
        };
    }
    if keep.iter().any(|k| !k) {
        code.retain(&keep);
    }
}

/// `rX = K; if rX op rY goto L` with rX dead after the jump → `if rY op' K goto L`.
fn compare_constants(code: &mut PCode, isa: Isa, targeted: &[bool], keep: &mut [bool]) {
    let n = code.insns.len();
    let live = live_in(code);
    for i in 0..n.saturating_sub(1) {
        if !keep[i] || !keep[i + 1] || targeted[i + 1] {
            continue;
        }
        let Insn::Alu64 {
            op: AluOp::Mov,
            dst: x,
            src: Src::Imm(k),
        } = code.insns[i].insn
        else {
            continue;
        };
        let Insn::Jmp {
            op,
            dst,
            src: Src::Reg(y),
            target,
        } = code.insns[i + 1].insn
        else {
            continue;
        };
        let Some(swapped) = op.swap().filter(|s| s.min_isa() <= isa) else {
            continue;
        };
        let after = |j: usize| live.get(j).copied().unwrap_or(0);
        let taken = code
            .target_index(&code.insns[i + 1].insn)
            .map_or(u16::MAX, after);
        let dead = (taken | after(i + 2)) & (1 << x.0) == 0;
        if dst != x || y == x || !dead {
            continue;
        }
        code.insns[i + 1].insn = Insn::Jmp {
            op: swapped,
            dst: y,
            src: Src::Imm(k),
            target,
        };
        keep[i] = false;
    }
}

/// Whether the instructions just before `at` load a field of `bits` bits into `r` (`r0 =
/// *(uN *)skb[..]`, possibly followed by `r = r0`, or `r = *(uN *)(..)`): LD_ABS, LD_IND and
/// narrow loads zero-extend, so the zero-extension two cancelling swaps leave behind is already
/// there.
fn loaded_into(code: &PCode, targeted: &[bool], at: usize, r: Reg, bits: u8) -> bool {
    let is_load = |j: usize| {
        matches!(code.insns[j].insn,
            Insn::LdAbs { size, .. } | Insn::LdInd { size, .. } if size.bytes() * 8 == u32::from(bits))
    };
    match at.checked_sub(1).map(|j| code.insns[j].insn) {
        Some(Insn::Alu64 {
            op: AluOp::Mov,
            dst,
            src: Src::Reg(Reg::R0),
        }) if dst == r && at >= 2 && !targeted[at - 1] => is_load(at - 2),
        Some(Insn::Ldx { size, dst, .. }) => dst == r && size.bytes() * 8 == u32::from(bits),
        Some(_) if r == Reg::R0 => is_load(at - 1),
        _ => false,
    }
}

/// Runs the pass in place; conditions it swaps stay within `isa`.
pub fn run(code: &mut PCode, isa: Isa) {
    let n = code.insns.len();
    let targeted = code.landed();
    let mut keep = vec![true; n];
    let mut i = 0;
    while i + 1 < n {
        let Insn::ToBe { dst: r, bits } = code.insns[i].insn else {
            i += 1;
            continue;
        };
        let swap = Insn::ToBe { dst: r, bits };
        let ext = zero_extend(r, bits);
        // `beN; beN`
        if code.insns[i + 1].insn == swap && !targeted[i + 1] {
            let loaded = !targeted[i] && loaded_into(code, &targeted, i, r, bits);
            match ext {
                _ if loaded => keep[i] = false,
                Some(e) => code.insns[i].insn = e,
                None => keep[i] = false,
            }
            keep[i + 1] = false;
            i += 2;
            continue;
        }
        // `beN; zero-extend; beN`
        if let Some(e) = ext {
            if i + 2 < n
                && code.insns[i + 1].insn == e
                && code.insns[i + 2].insn == swap
                && !targeted[i + 1]
                && !targeted[i + 2]
            {
                keep[i] = false;
                keep[i + 2] = false;
                i += 3;
                continue;
            }
        }
        i += 1;
    }
    compare_constants(code, isa, &targeted, &mut keep);
    if keep.iter().any(|k| !k) {
        code.retain(&keep);
    }
}

#[cfg(test)]
mod tests {
    use ljbpf_core::insn::{JmpOp, Label};

    use super::super::code::Rec;
    use super::*;

    fn code(insns: Vec<Insn<Reg>>, labels: Vec<Option<usize>>) -> PCode {
        PCode {
            insns: insns.into_iter().map(|i| Rec::new(i, 1)).collect(),
            labels,
            vregs: 0,
            stack_bytes: 0,
            objects: Vec::new(),
        }
    }

    fn mov(dst: u8, k: i32) -> Insn<Reg> {
        Insn::Alu64 {
            op: AluOp::Mov,
            dst: Reg(dst),
            src: Src::Imm(k),
        }
    }

    fn jsge(dst: u8, src: u8) -> Insn<Reg> {
        Insn::Jmp {
            op: JmpOp::Jsge,
            dst: Reg(dst),
            src: Src::Reg(Reg(src)),
            target: Label(0),
        }
    }

    #[test]
    fn a_dead_constant_register_is_compared_in_place() {
        // r3 = 1; if r3 s>= r2 goto L; r0 = 0; exit; L: r0 = 1; exit
        let insns = vec![
            mov(3, 1),
            jsge(3, 2),
            mov(0, 0),
            Insn::Exit,
            mov(0, 1),
            Insn::Exit,
        ];
        let mut c = code(insns.clone(), vec![Some(4)]);
        run(&mut c, Isa::V3);
        assert_eq!(
            c.insns[0].insn,
            Insn::Jmp {
                op: JmpOp::Jsle,
                dst: Reg(2),
                src: Src::Imm(1),
                target: Label(0),
            }
        );
        assert_eq!(c.insns.len(), 5);
        // v1 has no `s<=`: left alone.
        let mut c = code(insns.clone(), vec![Some(4)]);
        run(&mut c, Isa::V1);
        assert_eq!(c.insns.len(), 6);
        // r3 read at the target: left alone.
        let mut live = insns;
        live[4] = Insn::Alu64 {
            op: AluOp::Mov,
            dst: Reg(0),
            src: Src::Reg(Reg(3)),
        };
        let mut c = code(live, vec![Some(4)]);
        run(&mut c, Isa::V3);
        assert_eq!(c.insns.len(), 6);
    }

    #[test]
    fn a_constant_added_to_an_indirect_offset_moves_into_the_load() {
        use ljbpf_core::insn::Size;
        let add = |r: u8, k: i32| Insn::Alu64 {
            op: AluOp::Add,
            dst: Reg(r),
            src: Src::Imm(k),
        };
        let load = |r: u8, imm: i32| Insn::LdInd {
            size: Size::B,
            src: Reg(r),
            imm,
        };
        let mut c = code(vec![add(2, 22), load(2, 4), Insn::Exit], vec![]);
        indirect_offsets(&mut c);
        let got: Vec<Insn<Reg>> = c.insns.iter().map(|r| r.insn).collect();
        assert_eq!(got, [load(2, 26), Insn::Exit]);
        // R7 survives the load: its sum may be read after it.
        let mut c = code(vec![add(7, 22), load(7, 0), Insn::Exit], vec![]);
        indirect_offsets(&mut c);
        assert_eq!(c.insns.len(), 3);
        // A jump landing on the load brings another offset.
        let jump = Insn::Jmp {
            op: JmpOp::Jeq,
            dst: Reg(3),
            src: Src::Imm(0),
            target: Label(0),
        };
        let mut c = code(
            vec![jump, add(2, 22), load(2, 0), Insn::Exit],
            vec![Some(2)],
        );
        indirect_offsets(&mut c);
        assert_eq!(c.insns.len(), 4);
        // A label nothing jumps to does not.
        let mut c = code(vec![add(2, 22), load(2, 0), Insn::Exit], vec![Some(1)]);
        indirect_offsets(&mut c);
        assert_eq!(c.insns.len(), 2);
    }
}
