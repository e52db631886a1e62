//! Packet offset checks outside loops without a branch (after facts and threading, which drop
//! the checks they can decide).
//!
//! Lowering guards an `LD_IND` whose offset may be negative or beyond 2^31 with
//! `if t <= 0x7fffffff goto L; w_t = i32::MIN; L: r0 = *(size *)skb[t + 0]`, so that the load
//! faults (the kernel reads negative offsets in its `SKF_NET_OFF`/`SKF_LL_OFF` windows). The
//! verifier usually knows `t`'s range and decides that branch, and a decided branch marks its
//! register, and everything it was computed from, precise (`check_cond_jmp_op` calls
//! `mark_chain_precision`, kernel/bpf/verifier.c): in a loop walking DNS labels the offset then
//! differs between every iteration's state and no path leaving the loop is ever pruned (the
//! dnshist example took 425 instructions to verify). The same check as arithmetic marks
//! nothing precise:
//!
//! ```text
//! m = t; m >>= 31; m += -1; m s>>= 63     m: all ones when t < 2^31, else 0
//! t ^= K; t &= m; t ^= K                  t, or K = i32::MIN where m is 0
//! ```
//!
//! Inside a loop the branch stays: the verifier walks every iteration anyway (the loop counter
//! is precise), and there the two instructions of the decided branch cost less than seven (a
//! 64-byte checksum loop took 2,763 instructions to verify with the branch, 5,124 without);
//! the checks after the loop are what decide whether the paths leaving it can be pruned.
//!
//! `t >> 31` is 0 exactly for the offsets that pass and below 2^33 for any other, so minus one
//! has its sign bit set exactly for those. `LD_IND` reads the low 32 bits of its offset
//! (`bpf_gen_ld_abs`, net/core/filter.c, passes it as an `int`): K's are 0x80000000, below both
//! windows, as the branch's `w_t = i32::MIN` made them.

use ljbpf_core::insn::{AluOp, Insn, JmpOp, Src};

use super::code::{Rec, VCode, R};

/// Runs the pass in place.
pub fn run(code: &mut VCode) {
    let n = code.insns.len();
    let depth = code.loop_depth();
    let landed = code.landed();
    let mut out: Vec<Rec<R>> = Vec::with_capacity(n);
    let mut new_index = vec![0usize; n + 1];
    let mut i = 0;
    while i < n {
        new_index[i] = out.len();
        if let Some(t) = check_at(code, &landed, i).filter(|_| depth[i] == 0) {
            let line = code.insns[i].line;
            new_index[i + 1] = out.len();
            let m = R::V(code.vreg());
            let alu = |op, dst, src| Rec::new(Insn::Alu64 { op, dst, src }, line);
            out.extend([
                alu(AluOp::Mov, m, Src::Reg(t)),
                alu(AluOp::Rsh, m, Src::Imm(31)),
                alu(AluOp::Add, m, Src::Imm(-1)),
                alu(AluOp::Arsh, m, Src::Imm(63)),
                alu(AluOp::Xor, t, Src::Imm(i32::MIN)),
                alu(AluOp::And, t, Src::Reg(m)),
                alu(AluOp::Xor, t, Src::Imm(i32::MIN)),
            ]);
            i += 2;
            continue;
        }
        out.push(code.insns[i].clone());
        i += 1;
    }
    new_index[n] = out.len();
    code.insns = out;
    for l in code.labels.iter_mut() {
        *l = l.map(|i| new_index[i]);
    }
}

/// The offset register when instructions `i` and `i + 1` are lowering's check before an
/// `LD_IND` through it (nothing else jumps to the `w_t = i32::MIN`).
fn check_at(code: &VCode, landed: &[bool], i: usize) -> Option<R> {
    let (
        Insn::Jmp {
            op: JmpOp::Jle,
            dst: t,
            src: Src::Imm(i32::MAX),
            target,
        },
        Some(Insn::Alu32 {
            op: AluOp::Mov,
            dst: t2,
            src: Src::Imm(i32::MIN),
        }),
        Some(Insn::LdInd {
            src: t3, imm: 0, ..
        }),
    ) = (
        code.insns[i].insn,
        code.insns.get(i + 1).map(|r| r.insn),
        code.insns.get(i + 2).map(|r| r.insn),
    )
    else {
        return None;
    };
    let fits = t == t2
        && t == t3
        && !landed[i + 1]
        && code.labels.get(target.0 as usize).copied().flatten() == Some(i + 2)
        && code.insns[i].reloc.is_none()
        && code.insns[i + 1].reloc.is_none();
    fits.then_some(t)
}
