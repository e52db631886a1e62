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
    let mut out = vec![false; code.insns.len()];
    let succs = code.successors();
    for (head, end) in alone(code) {
        if bounded(code, &succs, head, end) {
            out[head..=end].fill(true);
        }
    }
    out
}

/// The loops (head, end) with no other loop inside them, around them or across them.
fn alone(code: &VCode) -> Vec<(usize, usize)> {
    let ranges = code.loop_ranges();
    let overlaps = |a: (usize, usize), b: (usize, usize)| a.0 <= b.1 && b.0 <= a.1;
    ranges
        .iter()
        .copied()
        .filter(|&r| !ranges.iter().any(|&o| o != r && overlaps(o, r)))
        .collect()
}

/// One forward walk over the loop `head..=end` (no other loop inside, entered only at its
/// head): what each register holds relative to the head before each instruction, on each
/// back edge, and which edges stay in the loop.
struct Walk {
    before: Vec<Option<Deltas>>,
    latch: Vec<Deltas>,
    /// The instructions that can still come back to the head.
    back: Vec<bool>,
}

impl Walk {
    fn new(code: &VCode, succs: &[Vec<usize>], head: usize, end: usize) -> Option<Walk> {
        let inside = |x: usize| head <= x && x <= end;
        if !code.entered_only_at_head(head, end) {
            return None;
        }
        // An edge to an instruction that cannot come back to the head leaves the loop
        // (lowering may put an exit's own block inside the range).
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
        let mut walk = Walk {
            before: vec![None; end + 1],
            latch: Vec::new(),
            back,
        };
        // The loop has no inner loop, so every edge but the back edges goes forward.
        walk.before[head] = Some(Deltas::new());
        for (i, out) in succs.iter().enumerate().take(end + 1).skip(head) {
            let Some(mut after) = walk.before[i].clone() else {
                continue;
            };
            step(&code.insns[i].insn, &mut after);
            for &s in out {
                if s == head && s <= i {
                    walk.latch.push(after.clone());
                } else if walk.stays(head, s) && s > i {
                    walk.before[s] = Some(match walk.before[s].take() {
                        None => after.clone(),
                        Some(o) => join(&o, &after),
                    });
                }
            }
        }
        Some(walk)
    }

    /// Whether the edge to `s` stays in the loop.
    fn stays(&self, head: usize, s: usize) -> bool {
        s == head || (head <= s && s < self.back.len() && self.back[s])
    }

    /// The step of `r` if it is a counter: a constant on every way into the loop and moved by
    /// the same non-zero constant on every back edge.
    fn counter(&self, code: &VCode, succs: &[Vec<usize>], head: usize, r: R) -> Option<i64> {
        let mut steps = self.latch.iter().map(|l| match value(l, r) {
            Some((base, s)) if base == r && s != 0 => Some(s),
            _ => None,
        });
        let first = steps.next()??;
        (matches!(r, R::V(_))
            && steps.all(|s| s == Some(first))
            && constant_on_entry(code, succs, head, self.back.len() - 1, r))
        .then_some(first)
    }
}

/// Whether every definition of `r` that reaches the loop `head..=end` from outside sets a
/// constant (the register may be reused for other values elsewhere: LuaJIT reuses slots).
fn constant_on_entry(code: &VCode, succs: &[Vec<usize>], head: usize, end: usize, r: R) -> bool {
    // The program's entry is a way in on which nothing defined `r`.
    if head == 0 {
        return false;
    }
    let n = code.insns.len();
    let mut preds: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, s) in succs.iter().enumerate() {
        for &t in s {
            preds[t].push(i);
        }
    }
    let inside = |x: usize| head <= x && x <= end;
    let mut seen = vec![false; n];
    let mut work: Vec<usize> = preds[head]
        .iter()
        .copied()
        .filter(|&p| !inside(p))
        .collect();
    while let Some(p) = work.pop() {
        if std::mem::replace(&mut seen[p], true) {
            continue;
        }
        let insn = &code.insns[p].insn;
        if super::code::uses_defs(insn).1.contains(&r) {
            let constant = matches!(
                insn,
                Insn::Alu64 {
                    op: AluOp::Mov,
                    src: Src::Imm(_),
                    ..
                } | Insn::LdImm64 { .. }
            );
            if !constant {
                return false;
            }
            continue;
        }
        // The program's entry reached with no definition: not a constant.
        if p == 0 || preds[p].is_empty() {
            return false;
        }
        work.extend(preds[p].iter().copied());
    }
    true
}

/// Whether the loop `head..=end` (no other loop inside) has a counter exit: a conditional
/// jump on every way around the loop, leaving it when a counter compared with a constant has
/// moved past it.
fn bounded(code: &VCode, succs: &[Vec<usize>], head: usize, end: usize) -> bool {
    let Some(walk) = Walk::new(code, succs, head, end) else {
        return false;
    };
    let stays = |s: usize| walk.stays(head, s);
    // On every way around the loop: no edge that stays in the loop jumps over it (all such
    // edges but the back edges go forward).
    let every_time =
        |x: usize| (head..x).all(|j| succs[j].iter().all(|&s| s <= x || s == head || !stays(s)));
    (head..=end).any(|i| {
        let (Some(d), rec) = (&walk.before[i], &code.insns[i]) else {
            return false;
        };
        let Insn::Jmp {
            op,
            dst,
            src: Src::Imm(_),
            ..
        } = rec.insn
        else {
            return false;
        };
        succs[i].iter().any(|&s| {
            if stays(s) || !every_time(i) {
                return false;
            }
            // The condition under which this edge is taken.
            let taken = code.target_index(&rec.insn) == Some(s) && s != i + 1;
            let Some(when) = (if taken { Some(op) } else { op.negate() }) else {
                return false;
            };
            let Some((b, _)) = value(d, dst) else {
                return false;
            };
            // Signed orders only: a value moving towards a signed bound reaches it before it
            // wraps (bounds are 32-bit immediates, steps too).
            walk.counter(code, succs, head, b)
                .is_some_and(|s| match when {
                    JmpOp::Jsgt | JmpOp::Jsge => s > 0,
                    JmpOp::Jslt | JmpOp::Jsle => s < 0,
                    _ => false,
                })
        })
    })
}

/// The conditional jumps of innermost loops that compare a counter (first) with a register
/// that is not one. The verifier knows a counter exactly in each iteration, and Linux 6.1
/// decides a compare of a range with a constant only when the constant is the second operand
/// (`check_cond_jmp_op`): with the counter first, it walks `while i <= n do ... i = i + 1
/// end` past its last iteration, to its limit of 8192 pending branches. Swapped, the compare
/// sends the last iteration out.
pub(super) fn counters_first(code: &VCode) -> Vec<usize> {
    let succs = code.successors();
    let mut out = Vec::new();
    for (head, end) in alone(code) {
        let Some(walk) = Walk::new(code, &succs, head, end) else {
            continue;
        };
        let is_counter = |d: &Deltas, r: R| {
            value(d, r).is_some_and(|(b, _)| walk.counter(code, &succs, head, b).is_some())
        };
        for i in head..=end {
            if let (
                Some(d),
                Insn::Jmp {
                    dst,
                    src: Src::Reg(s),
                    ..
                },
            ) = (&walk.before[i], code.insns[i].insn)
            {
                if is_counter(d, dst) && !is_counter(d, s) {
                    out.push(i);
                }
            }
        }
    }
    out
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
