//! Twins: two virtual registers that are always written together with the same value become
//! one. Lowering gives a numeric `for` loop two registers, LuaJIT's hidden index and the visible
//! copy the body reads (`FORI`/`FORL` write both, lj_vm's `vm_fori`), set by adjacent moves from
//! the same source on entry and on every back edge. Both are live through the whole loop, so
//! the allocator sees them interfere and gives them two homes; in a loop that already needs
//! every callee-saved register (a packet load clobbers R0-R5) one of them is spilled and
//! stored and reloaded on each iteration.
//!
//! `b` is a twin of `a` when every write of either is a move, each write of `a` is immediately
//! followed by a write of `b` from the same source (a constant or a third register) and every
//! write of `b` immediately follows such a write of `a`, with no jump landing between the two:
//! then `b` holds `a`'s value wherever it is read, its reads become reads of `a` and its writes
//! go.

use ljbpf_core::insn::{AluOp, Insn, Src};

use super::code::{uses_defs, VCode, VReg, R};

/// The source of a 64-bit move into a virtual register: `(dst, src)`.
fn mov(insn: &Insn<R>) -> Option<(VReg, Src<R>)> {
    match *insn {
        Insn::Alu64 {
            op: AluOp::Mov,
            dst: R::V(d),
            src,
        } => Some((d, src)),
        _ => None,
    }
}

/// Runs the pass in place.
pub fn run(code: &mut VCode) {
    while let Some((a, b)) = find(code) {
        let keep: Vec<bool> = code
            .insns
            .iter()
            .map(|r| !matches!(mov(&r.insn), Some((d, _)) if d == b))
            .collect();
        for rec in &mut code.insns {
            rec.insn = rec.insn.map_regs(|r| match r {
                R::V(v) if v == b => R::V(a),
                r => r,
            });
        }
        code.retain(&keep);
    }
}

/// A pair `(a, b)` where `b` is a twin of `a`.
fn find(code: &VCode) -> Option<(VReg, VReg)> {
    let nv = code.vregs as usize;
    let landed = code.landed();
    // Writes of each register; `None` once a write is not a move.
    let mut writes: Vec<Option<Vec<usize>>> = vec![Some(Vec::new()); nv];
    for (i, rec) in code.insns.iter().enumerate() {
        let m = mov(&rec.insn);
        for d in uses_defs(&rec.insn).1 {
            if let R::V(v) = d {
                let w = &mut writes[v.0 as usize];
                match (m, w.as_mut()) {
                    (Some((md, _)), Some(list)) if md == v => list.push(i),
                    _ => *w = None,
                }
            }
        }
    }
    let same_source = |i: usize, j: usize| -> Option<(VReg, VReg)> {
        let (a, sa) = mov(&code.insns[i].insn)?;
        let (b, sb) = mov(&code.insns[j].insn)?;
        let reads_pair = |s: Src<R>| matches!(s, Src::Reg(R::V(v)) if v == a || v == b);
        (a != b && sa == sb && !reads_pair(sa) && !landed[j]).then_some((a, b))
    };
    for (b, wb) in writes.iter().enumerate() {
        let Some(wb) = wb else { continue };
        let Some(&first) = wb.first() else { continue };
        let Some((a, _)) = first.checked_sub(1).and_then(|i| same_source(i, first)) else {
            continue;
        };
        let Some(wa) = &writes[a.0 as usize] else {
            continue;
        };
        let paired = wa.len() == wb.len()
            && wa
                .iter()
                .zip(wb)
                .all(|(&i, &j)| i + 1 == j && same_source(i, j) == Some((a, VReg(b as u32))));
        if paired {
            return Some((a, VReg(b as u32)));
        }
    }
    None
}
