//! Common loads reused (before register allocation): a packet or context field loaded again,
//! and put through the same conversions (`be32`, masks, shifts), while the register holding the
//! first result still holds it on every path, becomes a copy of that register.
//!
//! A *chain* is a load — `r0 = *(uN *)skb[..]` (LD_ABS/LD_IND) followed by `v = r0`, or
//! `v = *(uN *)(r6 + off)` from the context — and the run of in-place operations with constant
//! operands on `v` right after it, with no jump landing inside. Two chains with the same load and
//! operations compute the same value if nothing in between changed the packet, the context, the
//! load's offset register, or the register the first result is in. Helper calls may change the
//! packet (`bpf_skb_store_bytes`) and context fields, stores may write context fields; both
//! end what is known.

use ljbpf_core::insn::{AluOp, Insn, Reg, Src};

use super::code::{uses_defs, Rec, VCode, VReg, R};
use super::liveness::physical_live_out;

/// A chain found in the code.
struct Chain {
    /// Its first instruction.
    start: usize,
    /// One past its last.
    end: usize,
    /// The register holding its value.
    reg: VReg,
    /// What it computes: the load (with its relocation) and the operations.
    key: Vec<(Insn<R>, Option<super::code::Reloc>)>,
    /// Whether it reads the packet (else the context).
    packet: bool,
    /// The load's offset register, if any.
    base: Option<VReg>,
}

fn chains(code: &VCode) -> Vec<Chain> {
    let n = code.insns.len();
    let mut landed = vec![false; n + 1];
    for l in code.labels.iter().flatten() {
        landed[*l] = true;
    }
    let phys_out = physical_live_out(code);
    let mut out = Vec::new();
    let mut i = 0;
    while i < n {
        let rec = &code.insns[i];
        let head = match (rec.insn, code.insns.get(i + 1).map(|r| r.insn)) {
            (
                Insn::LdAbs { .. } | Insn::LdInd { .. },
                Some(Insn::Alu64 {
                    op: AluOp::Mov,
                    dst: R::V(v),
                    src: Src::Reg(R::P(Reg::R0)),
                }),
            ) if !landed[i + 1] && phys_out[i + 1] & 1 == 0 => {
                let base = match rec.insn {
                    Insn::LdInd { src: R::V(b), .. } => Some(b),
                    _ => None,
                };
                Some((v, i + 2, true, base))
            }
            (
                Insn::Ldx {
                    dst: R::V(v),
                    src: R::P(Reg::R6),
                    ..
                },
                _,
            ) => Some((v, i + 1, false, None)),
            _ => None,
        };
        let Some((reg, mut end, packet, base)) = head else {
            i += 1;
            continue;
        };
        if base == Some(reg) {
            i += 1;
            continue;
        }
        while end < n && !landed[end] && code.insns[end].reloc.is_none() {
            let in_place = match code.insns[end].insn {
                Insn::ToBe { dst, .. } | Insn::Sext32 { dst } => dst == R::V(reg),
                Insn::Alu64 {
                    op,
                    dst,
                    src: Src::Imm(_),
                }
                | Insn::Alu32 {
                    op,
                    dst,
                    src: Src::Imm(_),
                } => dst == R::V(reg) && op != AluOp::Mov,
                _ => false,
            };
            if !in_place {
                break;
            }
            end += 1;
        }
        // The result register differs between chains: it is not part of what they compute.
        let anon = |insn: &Insn<R>| {
            insn.map_regs(|r| {
                if r == R::V(reg) {
                    R::V(VReg(u32::MAX))
                } else {
                    r
                }
            })
        };
        let mut key = vec![(anon(&rec.insn), rec.reloc.clone())];
        let ops = if packet { i + 2 } else { i + 1 };
        key.extend(code.insns[ops..end].iter().map(|r| (anon(&r.insn), None)));
        out.push(Chain {
            start: i,
            end,
            reg,
            key,
            packet,
            base,
        });
        i = end;
    }
    out
}

/// Runs the pass in place.
pub fn run(code: &mut VCode) {
    let n = code.insns.len();
    let chains = chains(code);
    if chains.len() < 2 {
        return;
    }
    // Chain ids by where they end; which chains compute the same thing.
    let mut ends_at: Vec<Option<usize>> = vec![None; n + 1];
    for (c, ch) in chains.iter().enumerate() {
        ends_at[ch.end - 1] = Some(c);
    }
    let same: Vec<usize> = chains
        .iter()
        .map(|ch| chains.iter().position(|o| o.key == ch.key).unwrap_or(0))
        .collect();
    // Forward must-analysis: on entry to each instruction, the chains whose value is available,
    // as (class, register).
    let succs = code.successors();
    let mut avail: Vec<Option<Vec<(usize, VReg)>>> = vec![None; n];
    if n == 0 {
        return;
    }
    avail[0] = Some(Vec::new());
    let mut work = vec![0usize];
    while let Some(i) = work.pop() {
        let Some(mut set) = avail[i].clone() else {
            continue;
        };
        let insn = &code.insns[i].insn;
        let defs = uses_defs(insn).1;
        set.retain(|&(c, v)| {
            let ch = &chains[c];
            let killed_reg = defs
                .iter()
                .any(|d| *d == R::V(v) || Some(*d) == ch.base.map(R::V));
            let killed_mem = match insn {
                Insn::Call { .. } => true,
                Insn::St { .. } | Insn::Stx { .. } | Insn::AtomicAdd { .. } => !ch.packet,
                _ => false,
            };
            !killed_reg && !killed_mem
        });
        if let Some(c) = ends_at[i] {
            let class = same[c];
            set.retain(|&(k, _)| k != class);
            set.push((class, chains[c].reg));
        }
        for &s in &succs[i] {
            let next = match &avail[s] {
                None => set.clone(),
                Some(old) => old.iter().copied().filter(|x| set.contains(x)).collect(),
            };
            if avail[s].as_ref() != Some(&next) {
                avail[s] = Some(next);
                work.push(s);
            }
        }
    }
    // `v = beN v; w = v; w = beN w`: a field swapped and swapped back (`ntoh` of a packet
    // field), which the peephole pass cancels against a fresh load and would not against a copy.
    let swapped_back = |ch: &Chain| match (
        code.insns[ch.end - 1].insn,
        code.insns.get(ch.end).map(|r| r.insn),
        code.insns.get(ch.end + 1).map(|r| r.insn),
    ) {
        (
            Insn::ToBe { bits, .. },
            Some(Insn::Alu64 {
                op: AluOp::Mov,
                dst: w,
                src: Src::Reg(v),
            }),
            Some(Insn::ToBe { dst, bits: back }),
        ) => v == R::V(ch.reg) && dst == w && back == bits,
        _ => false,
    };
    let back: Vec<bool> = chains.iter().map(swapped_back).collect();
    let mut keep = vec![true; n];
    for (c, ch) in chains.iter().enumerate() {
        if back[c] {
            continue;
        }
        let Some(set) = &avail[ch.start] else {
            continue;
        };
        let Some(&(_, from)) = set.iter().find(|&&(k, _)| k == same[c]) else {
            continue;
        };
        if from == ch.reg {
            // The same register already holds it: nothing to compute.
            keep[ch.start..ch.end].fill(false);
            continue;
        }
        let line = code.insns[ch.start].line;
        code.insns[ch.start] = Rec::new(
            Insn::Alu64 {
                op: AluOp::Mov,
                dst: R::V(ch.reg),
                src: Src::Reg(R::V(from)),
            },
            line,
        );
        keep[ch.start + 1..ch.end].fill(false);
    }
    code.retain(&keep);
}
