//! Jump clean-up (after register allocation): thread jumps to jumps, drop jumps to the next
//! instruction, fold `if c goto A; goto B; A:` into `if !c goto B`, and drop code no jump
//! reaches. Repeats until nothing changes.

use ljbpf_core::insn::{Insn, Isa};

use super::code::{Code, Operand, PCode};

/// Runs the pass in place; conditions it negates stay within `isa`.
pub fn run(code: &mut PCode, isa: Isa) {
    loop {
        let mut changed = thread(code, isa);
        changed |= drop_dead(code);
        if !changed {
            return;
        }
    }
}

/// Retargets jumps whose target is an unconditional jump; inverts a conditional jump over an
/// unconditional one.
fn thread(code: &mut PCode, isa: Isa) -> bool {
    let mut changed = false;
    for i in 0..code.insns.len() {
        for _ in 0..8 {
            let Some(t) = code.target_index(&code.insns[i].insn) else {
                break;
            };
            let Some(Insn::Ja { target: next }) = code.insns.get(t).map(|r| r.insn) else {
                break;
            };
            if t == i {
                break;
            }
            let current = code.insns[i].insn.target();
            if current == Some(next) {
                break;
            }
            match &mut code.insns[i].insn {
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
            Some(Insn::Ja { target: far }),
        ) = (code.insns[i].insn, code.insns.get(i + 1).map(|r| r.insn))
        {
            let lands_after = code.target_index(&code.insns[i].insn) == Some(i + 2);
            // A label left bound there by an earlier edit does not count, a jump to it does.
            let ja_is_target = code
                .insns
                .iter()
                .any(|r| code.target_index(&r.insn) == Some(i + 1));
            let negated = op.negate().filter(|n| n.min_isa() <= isa);
            if let (true, false, Some(neg)) = (lands_after, ja_is_target, negated) {
                code.insns[i].insn = Insn::Jmp {
                    op: neg,
                    dst,
                    src,
                    target: far,
                };
                // The old Ja becomes a jump to the next instruction, which drop_dead removes.
                code.insns[i + 1].insn = Insn::Ja { target };
                changed = true;
            }
        }
    }
    changed
}

/// Removes jumps to the next instruction and instructions nothing can reach (before or after
/// register allocation).
pub fn drop_dead<X: Operand>(code: &mut Code<X>) -> bool {
    let n = code.insns.len();
    let mut reachable = vec![false; n];
    let mut work = vec![0usize];
    while let Some(i) = work.pop() {
        if i >= n || reachable[i] {
            continue;
        }
        reachable[i] = true;
        let insn = &code.insns[i].insn;
        if !insn.is_terminator() {
            work.push(i + 1);
        }
        if let Some(t) = code.target_index(insn) {
            work.push(t);
        }
    }
    let mut keep = reachable;
    for (i, k) in keep.iter_mut().enumerate() {
        if *k {
            if let Insn::Ja { .. } = code.insns[i].insn {
                if code.target_index(&code.insns[i].insn) == Some(i + 1) {
                    *k = false;
                }
            }
        }
    }
    if keep.iter().all(|k| *k) {
        return false;
    }
    code.retain(&keep);
    true
}
