//! Loops the verifier bounds by a counter.
//!
//! The verifier walks a loop one iteration at a time and stops a path when a condition it can
//! decide sends it out. A register set to a constant before the loop and stepped by a constant
//! on every way around it (`for i = 1, 10`, `local k = 0 ... k = k + 1` with `k < 64` in the
//! condition) is a constant in each of those iterations (Linux 6.1 tracks scalars exactly), so
//! an exit that compares it with a constant in the direction it moves ends every path. Such a
//! loop needs nothing else to be precise: the other values its conditions compare may stay
//! unknown to the verifier, which is better for it, as states with unknown values prune each
//! other where exact ranges (a byte halved or tripled, `while n > 1 and k < 64 do if n % 2 == 0
//! then n = n / 2 else n = 3 * n + 1 end k = k + 1 end`) make one state per history of
//! operations.

use std::collections::HashMap;

use ljbpf_core::insn::{AluOp, Insn, JmpOp, Src};

use super::code::{VCode, R};

/// What a register holds relative to the values on entry to the loop's head: `Some((b, d))`
/// is b's value at the head plus `d`, `None` anything else. A register not in the map holds
/// its own value at the head.
type Deltas = HashMap<R, Option<(R, i64)>>;

/// For each instruction, whether it is in a loop bounded by a counter (an innermost loop
/// around which no other loop lies).
pub(super) fn counted(code: &VCode) -> Vec<bool> {
    let n = code.insns.len();
    let mut out = vec![false; n];
    let ranges = code.loop_ranges();
    let overlaps = |a: (usize, usize), b: (usize, usize)| a.0 <= b.1 && b.0 <= a.1;
    let succs = code.successors();
    for &(head, end) in &ranges {
        // Alone: no loop inside it, around it or across it.
        if ranges
            .iter()
            .any(|&o| o != (head, end) && overlaps(o, (head, end)))
        {
            continue;
        }
        if bounded(code, &succs, head, end) {
            out[head..=end].fill(true);
        }
    }
    out
}

/// Whether the loop `head..=end` (no other loop inside) has a counter exit: a conditional
/// jump on every way around the loop, leaving it when a counter compared with a constant has
/// moved past it.
fn bounded(code: &VCode, succs: &[Vec<usize>], head: usize, end: usize) -> bool {
    let inside = |x: usize| head <= x && x <= end;
    // Entered only at its head.
    if !code.entered_only_at_head(head, end) {
        return false;
    }
    // The instructions that can still come back to the head: an edge to any other one leaves
    // the loop (lowering may put an exit's own block inside the range).
    let mut back = vec![false; end + 1];
    back[end] = true;
    for i in (head..=end).rev() {
        if succs[i]
            .iter()
            .any(|&s| s == head || (s > i && inside(s) && back[s]))
        {
            back[i] = true;
        }
    }
    let stays = |s: usize| s == head || (inside(s) && back[s]);
    // On every way around the loop: no edge that stays in the loop jumps over it (all such
    // edges but the back edges go forward).
    let every_time =
        |x: usize| (head..x).all(|j| succs[j].iter().all(|&s| s <= x || s == head || !stays(s)));
    // Constant on entry: every definition outside the loop is a constant.
    let constant_outside = |r: R| {
        code.insns.iter().enumerate().all(|(i, rec)| {
            inside(i)
                || !super::code::uses_defs(&rec.insn).1.contains(&r)
                || matches!(
                    rec.insn,
                    Insn::Alu64 {
                        op: AluOp::Mov,
                        src: Src::Imm(_),
                        ..
                    } | Insn::LdImm64 { .. }
                )
        })
    };
    // One forward walk: the loop has no inner loop, so every edge but the back edges goes
    // forward.
    let mut at: Vec<Option<Deltas>> = vec![None; end + 1];
    at[head] = Some(Deltas::new());
    let mut latch: Vec<Deltas> = Vec::new();
    let mut exits: Vec<(R, JmpOp, Deltas)> = Vec::new();
    for i in head..=end {
        let Some(d) = at[i].take() else {
            continue;
        };
        let rec = &code.insns[i];
        let mut after = d.clone();
        step(&rec.insn, &mut after);
        for &s in &succs[i] {
            let taken = code.target_index(&rec.insn) == Some(s) && s != i + 1;
            if s == head && s <= i {
                latch.push(after.clone());
            } else if !stays(s) {
                if let Insn::Jmp {
                    op,
                    dst,
                    src: Src::Imm(_),
                    ..
                } = rec.insn
                {
                    // The condition under which this edge is taken.
                    let when = if taken { Some(op) } else { op.negate() };
                    if let Some(when) = when.filter(|_| every_time(i)) {
                        exits.push((dst, when, d.clone()));
                    }
                }
            } else if s > i {
                at[s] = Some(match at[s].take() {
                    None => after.clone(),
                    Some(o) => join(&o, &after),
                });
            }
        }
    }
    exits.iter().any(|(r, when, d)| {
        let Some((b, _)) = value(d, *r) else {
            return false;
        };
        // The counter's step: the same non-zero constant on every back edge.
        let steps: Vec<Option<i64>> = latch
            .iter()
            .map(|l| match value(l, b) {
                Some((base, s)) if base == b && s != 0 => Some(s),
                _ => None,
            })
            .collect();
        let Some(&Some(s)) = steps.first() else {
            return false;
        };
        // Signed orders only: a value moving towards a signed bound reaches it before it
        // wraps (bounds are 32-bit immediates, steps too).
        let towards = match when {
            JmpOp::Jsgt | JmpOp::Jsge => s > 0,
            JmpOp::Jslt | JmpOp::Jsle => s < 0,
            _ => false,
        };
        towards
            && steps.iter().all(|&x| x == Some(s))
            && matches!(b, R::V(_))
            && constant_outside(b)
    })
}

/// What `r` holds, from `d`.
fn value(d: &Deltas, r: R) -> Option<(R, i64)> {
    match d.get(&r) {
        Some(v) => *v,
        None => Some((r, 0)),
    }
}

/// Moves the relations across one instruction.
fn step(insn: &Insn<R>, d: &mut Deltas) {
    let (_, defs) = super::code::uses_defs(insn);
    let new = match *insn {
        Insn::Alu64 {
            op: AluOp::Mov,
            src: Src::Reg(s),
            ..
        } => value(d, s),
        Insn::Alu64 {
            op: op @ (AluOp::Add | AluOp::Sub),
            dst,
            src: Src::Imm(k),
        } => value(d, dst).and_then(|(b, x)| {
            let k = if op == AluOp::Add {
                k as i64
            } else {
                -(k as i64)
            };
            x.checked_add(k).map(|x| (b, x))
        }),
        _ => None,
    };
    for r in defs {
        d.insert(r, new);
    }
}

/// What two ways into an instruction agree on.
fn join(a: &Deltas, b: &Deltas) -> Deltas {
    let mut out = Deltas::new();
    for r in a.keys().chain(b.keys()) {
        let v = value(a, *r);
        out.insert(*r, if v == value(b, *r) { v } else { None });
    }
    out
}
