//! Loops run at compile time: a loop entered with constants in every register it reads, that
//! only computes (no memory, calls or packet loads) and leaves within a few thousand steps, is
//! replaced by the constants it leaves in the registers it writes. `for i = 1, 10 do s = s + i
//! end` becomes `s = 55` (clang -O2 does the same through its scalar evolution), and the
//! verifier no longer walks the iterations.
//!
//! A loop is the range of instructions from a backward jump's target to the jump. It is
//! evaluated with the facts of `mir::facts` on the edges that enter it from outside (all of them
//! must agree on the constants it reads) by the same transfer function that folds constants
//! there, so the evaluation and the folding cannot disagree.

use ljbpf_core::insn::{Insn, Label};
use ljbpf_core::interp::Key;

use super::code::{uses_defs, Rec, VCode, R};
use super::facts::{analyse, flow, load_const, taken, transfer, Facts, Val};

/// Instructions executed at most while evaluating one loop.
const STEPS: usize = 4096;

/// Whether the instruction only computes on virtual registers.
fn computes(rec: &Rec<R>) -> bool {
    let (uses, defs) = uses_defs(&rec.insn);
    rec.reloc.is_none()
        && matches!(
            rec.insn,
            Insn::Alu64 { .. }
                | Insn::Alu32 { .. }
                | Insn::Sext32 { .. }
                | Insn::LdImm64 { .. }
                | Insn::Jmp { .. }
                | Insn::Ja { .. }
        )
        && uses.iter().chain(&defs).all(|r| matches!(r, R::V(_)))
}

/// What evaluating the loop `[t, e]` found: the registers it writes with their values at the
/// exit, and where it leaves (`None`: falls through past `e`).
struct Outcome {
    written: Vec<(R, u64)>,
    exit: Option<Label>,
}

/// Evaluates the loop `[t, e]` of `code`, given the facts on entry to every instruction.
fn evaluate(code: &VCode, facts: &Facts, t: usize, e: usize) -> Option<Outcome> {
    let inside = |i: usize| (t..=e).contains(&i);
    if !code.insns[t..=e].iter().all(computes) {
        return None;
    }
    let succs = code.successors();
    // Entered only at its top, with the same constants on every entering edge.
    let mut entry: Option<Vec<Val>> = None;
    for (p, ss) in succs.iter().enumerate() {
        if inside(p) || !ss.iter().any(|&s| inside(s)) {
            continue;
        }
        let Some(at) = facts.at(code, p) else {
            continue;
        };
        for &s in ss {
            if s > t && inside(s) {
                return None;
            }
            if s == t {
                let edge = flow(code, p, &at, s, true);
                entry = Some(match entry {
                    None => edge,
                    Some(old) => old.iter().zip(&edge).map(|(a, b)| a.join(*b)).collect(),
                });
            }
        }
    }
    let mut st = entry?;
    let mut written: Vec<R> = Vec::new();
    let mut pc = t;
    let finish = |st: &[Val], written: Vec<R>, exit: Option<Label>| {
        let written = written
            .into_iter()
            .map(|r| match st[r.key()] {
                Val::Const(k) => Some((r, k)),
                Val::Width(_) => None,
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Outcome { written, exit })
    };
    for _ in 0..STEPS {
        // Past the backward jump (not taken, or a jump inside to the instruction after it).
        if !inside(pc) {
            return finish(&st, written, None);
        }
        let insn = &code.insns[pc].insn;
        let (uses, defs) = uses_defs(insn);
        if !uses.iter().all(|u| matches!(st[u.key()], Val::Const(_))) {
            return None;
        }
        let next = match insn {
            Insn::Ja { .. } => code.target_index(insn)?,
            Insn::Jmp { .. } => match taken(insn, &st)? {
                true => code.target_index(insn)?,
                false => pc + 1,
            },
            _ => {
                transfer(insn, &mut st, true);
                for d in defs {
                    if !written.contains(&d) {
                        written.push(d);
                    }
                }
                pc + 1
            }
        };
        // A jump out of the loop elsewhere than to the instruction after it.
        if !inside(next) && next != e + 1 {
            return finish(&st, written, Some(insn.target()?));
        }
        pc = next;
    }
    None
}

/// Replaces the first loop that can be evaluated; whether one was.
fn once(code: &mut VCode) -> bool {
    let facts = analyse(code, true);
    for e in 0..code.insns.len() {
        let Some(t) = code.target_index(&code.insns[e].insn) else {
            continue;
        };
        if t > e || facts.at(code, t).is_none() {
            continue;
        }
        let Some(out) = evaluate(code, &facts, t, e) else {
            continue;
        };
        let line = code.insns[t].line;
        let mut with: Vec<Rec<R>> = out
            .written
            .iter()
            .map(|&(r, k)| Rec::new(load_const(r, k), line))
            .collect();
        if let Some(target) = out.exit {
            with.push(Rec::new(Insn::Ja { target }, code.insns[e].line));
        }
        if with.len() > e + 1 - t {
            continue;
        }
        // Labels inside the loop are only jumped to from inside it: they go to its new top.
        let shift = (e + 1 - t) - with.len();
        for l in code.labels.iter_mut().flatten() {
            if *l > e {
                *l -= shift;
            } else if *l > t {
                *l = t;
            }
        }
        code.insns.splice(t..=e, with);
        return true;
    }
    false
}

/// Runs the pass in place.
pub fn run(code: &mut VCode) {
    // Each replacement can make an enclosing loop's inputs constant; a few rounds suffice.
    for _ in 0..16 {
        if !once(code) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use ljbpf_core::insn::{AluOp, JmpOp, Src};

    use super::super::code::VReg;
    use super::*;

    fn v(n: u32) -> R {
        R::V(VReg(n))
    }

    fn alu(op: AluOp, dst: R, src: Src<R>) -> Insn<R> {
        Insn::Alu64 { op, dst, src }
    }

    /// `s = 0; i = 1; repeat s = s + i; i = i + 1 until i > limit`, then `r0 = s + i` (`limit`:
    /// an immediate, or a register holding `v2`'s value, unknown when `None`).
    fn sum(limit: Option<i32>) -> VCode {
        let mut c = VCode::default();
        let (s, i, n) = (c.vreg(), c.vreg(), c.vreg());
        let top = c.label();
        c.push(alu(AluOp::Mov, R::V(s), Src::Imm(0)), 1);
        c.push(alu(AluOp::Mov, R::V(i), Src::Imm(1)), 1);
        match limit {
            Some(k) => c.push(alu(AluOp::Mov, R::V(n), Src::Imm(k)), 1),
            None => c.push(
                Insn::Ldx {
                    size: ljbpf_core::insn::Size::B,
                    dst: R::V(n),
                    src: R::P(ljbpf_core::insn::Reg(1)),
                    off: 0,
                },
                1,
            ),
        }
        c.bind(top);
        c.push(alu(AluOp::Add, R::V(s), Src::Reg(R::V(i))), 2);
        c.push(alu(AluOp::Add, R::V(i), Src::Imm(1)), 2);
        c.push(
            Insn::Jmp {
                op: JmpOp::Jsle,
                dst: R::V(i),
                src: Src::Reg(R::V(n)),
                target: top,
            },
            2,
        );
        c.push(
            alu(AluOp::Mov, R::P(ljbpf_core::insn::Reg(0)), Src::Reg(v(0))),
            3,
        );
        c.push(
            alu(AluOp::Add, R::P(ljbpf_core::insn::Reg(0)), Src::Reg(v(1))),
            3,
        );
        c.push(Insn::Exit, 3);
        c
    }

    #[test]
    fn a_loop_on_constants_becomes_its_results() {
        let mut c = sum(Some(10));
        run(&mut c);
        let body: Vec<Insn<R>> = c.insns[3..5].iter().map(|r| r.insn).collect();
        assert_eq!(
            body,
            [
                alu(AluOp::Mov, v(0), Src::Imm(55)),
                alu(AluOp::Mov, v(1), Src::Imm(11)),
            ]
        );
        assert_eq!(c.insns.len(), 8);
        assert!(c.insns.iter().all(|r| r.insn.target().is_none()));
    }

    #[test]
    fn a_loop_on_an_unknown_bound_stays() {
        let mut c = sum(None);
        let before = c.insns.clone();
        run(&mut c);
        assert_eq!(c.insns, before);
    }

    #[test]
    fn a_loop_longer_than_the_budget_stays() {
        let mut c = sum(Some(1_000_000));
        let before = c.insns.clone();
        run(&mut c);
        assert_eq!(c.insns, before);
    }
}
