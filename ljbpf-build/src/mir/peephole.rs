//! Peephole simplification after register allocation, where copies have been coalesced and a
//! value's successive rewrites sit in one register:
//!
//! - `r = be16 r; r &= 0xffff; r = be16 r` → `r &= 0xffff` (and the 32-bit form with the
//!   zero-extending `w = w`): a network-order packet field read and converted back by `ntoh`.
//!   On little-endian, `be16` swaps the low 16 bits and clears the rest
//!   (Documentation/bpf/standardization/instruction-set.rst, "Byte swap instructions"), so two
//!   swaps are the zero-extension, which the mask between them already is. The mask stays: the
//!   verifier learns the value's range from it.
//! - `r = beN r; r = beN r` → the zero-extension alone (nothing for 64 bits).
//!
//! Only instructions no jump lands between are rewritten.

use ljbpf_core::insn::{AluOp, Insn, Reg, Src};

use super::code::PCode;

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

/// Runs the pass in place.
pub fn run(code: &mut PCode) {
    let n = code.insns.len();
    let mut targeted = vec![false; n + 1];
    for l in code.labels.iter().flatten() {
        if *l <= n {
            targeted[*l] = true;
        }
    }
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
            match ext {
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
    if keep.iter().any(|k| !k) {
        code.retain(&keep);
    }
}
