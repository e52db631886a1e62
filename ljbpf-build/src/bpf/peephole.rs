//! Jump clean-up after register allocation: thread jumps to jumps, drop jumps to the next
//! instruction, fold `if c goto A; goto B; A:` into `if !c goto B`, and drop code no jump
//! reaches. Repeats until nothing changes.

use super::insn::{Insn, Reg};
use super::regalloc::Allocated;

/// Cleans up jumps in place.
pub fn optimize(code: &mut Allocated) {
    loop {
        let mut changed = thread(code);
        changed |= drop_dead(code);
        if !changed {
            return;
        }
    }
}

fn target_index(code: &Allocated, insn: &Insn<Reg>) -> Option<usize> {
    insn.target()
        .and_then(|l| code.labels.get(l.0 as usize).copied().flatten())
}

/// Retargets jumps whose target is an unconditional jump; inverts a conditional jump over an
/// unconditional one.
fn thread(code: &mut Allocated) -> bool {
    let mut changed = false;
    for i in 0..code.insns.len() {
        for _ in 0..8 {
            let Some(t) = target_index(code, &code.insns[i].0) else {
                break;
            };
            let Some((Insn::Ja { target: next }, _)) = code.insns.get(t).copied() else {
                break;
            };
            if t == i {
                break;
            }
            let current = code.insns[i].0.target();
            if current == Some(next) {
                break;
            }
            match &mut code.insns[i].0 {
                Insn::Ja { target } | Insn::Jmp { target, .. } => *target = next,
                _ => {}
            }
            changed = true;
        }
        if let (
            Insn::Jmp {
                op,
                dst,
                src,
                target,
            },
            Some((Insn::Ja { target: far }, _)),
        ) = (code.insns[i].0, code.insns.get(i + 1).copied())
        {
            let lands_after = target_index(code, &code.insns[i].0) == Some(i + 2);
            let ja_is_target = code.labels.iter().any(|l| *l == Some(i + 1));
            if let (true, false, Some(neg)) = (lands_after, ja_is_target, op.negate()) {
                code.insns[i].0 = Insn::Jmp {
                    op: neg,
                    dst,
                    src,
                    target: far,
                };
                // The old Ja becomes a jump to the next instruction, which drop_dead removes.
                code.insns[i + 1].0 = Insn::Ja { target };
                changed = true;
            }
        }
    }
    changed
}

/// Removes jumps to the next instruction and instructions nothing can reach.
fn drop_dead(code: &mut Allocated) -> bool {
    let n = code.insns.len();
    let mut reachable = vec![false; n];
    let mut work = vec![0usize];
    while let Some(i) = work.pop() {
        if i >= n || reachable[i] {
            continue;
        }
        reachable[i] = true;
        let insn = &code.insns[i].0;
        if !insn.is_terminator() {
            work.push(i + 1);
        }
        if let Some(t) = target_index(code, insn) {
            work.push(t);
        }
    }
    let mut keep = reachable;
    for (i, k) in keep.iter_mut().enumerate() {
        if *k {
            if let Insn::Ja { .. } = code.insns[i].0 {
                if target_index(code, &code.insns[i].0) == Some(i + 1) {
                    *k = false;
                }
            }
        }
    }
    if keep.iter().all(|k| *k) {
        return false;
    }
    super::retain_insns(&mut code.insns, &mut code.labels, &keep);
    true
}
