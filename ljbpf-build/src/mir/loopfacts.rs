//! The fixpoint of [`facts`](super::facts) with bounded loops walked one iteration at a time.
//!
//! Joining a loop's back edge into its header loses what each iteration knows: an offset that
//! grows by a byte per iteration (`off = off + len + 1` over DNS labels) has the width of the
//! widest iteration after the join, and after enough joins no width at all, although a loop
//! counter (`for _ = 1, 10`) bounds how many iterations there are. The verifier walks such a
//! loop once per iteration, knowing the counter as a constant in each (Linux 6.1
//! `is_state_visited` prunes a loop state only against an equal or wider one, never widens a
//! scalar), so its ranges are those of one iteration too.
//!
//! Here each block of an innermost loop that is only entered at its first instruction gets one
//! state per iteration (`k`: how many back edges were taken since the loop was entered): an
//! entry edge leads to iteration 0, a back edge from iteration `k` to iteration `k + 1`, an
//! exit to the single state of the block outside. A conditional jump the facts decide has one
//! live edge in these blocks, so a counter known in every iteration stops the walk at its
//! bound. The last of a loop's [`MAX_ITERATIONS`] iteration states (fewer when its blocks
//! times iterations would pass the budget) takes every later iteration too, joined as without
//! the walk, so a loop whose counter is unknown ends as before. Each block's facts are the join
//! of its iterations' states.

use std::collections::BTreeSet;

use ljbpf_core::insn::Insn;

use super::code::VCode;
use super::facts::{flow, step, taken, State, Val};

/// The most iterations a loop is walked one at a time.
pub(super) const MAX_ITERATIONS: usize = 64;

/// The most block states all walked loops may add (blocks × iterations) in a program of few
/// blocks; a larger program may add as many as it has blocks, so that the walk at most
/// doubles the fixpoint's work (generated programs of 6,000 instructions already take
/// seconds to compile).
const BUDGET: usize = 1024;

/// An innermost loop: the instructions `head..=end`, entered only at `head`.
#[derive(Clone, Copy, Debug)]
struct Loop {
    head: usize,
    end: usize,
    /// Iterations walked one at a time.
    iterations: usize,
}

/// The innermost loops (backward jumps to `head` from `head..=end`, no other backward jump
/// whose range overlaps) and, per block, the loop it belongs to.
fn innermost(code: &VCode, starts: &[usize]) -> Vec<Loop> {
    let ranges = code.loop_ranges();
    let overlaps = |a: (usize, usize), b: (usize, usize)| a.0 <= b.1 && b.0 <= a.1;
    let mut loops: Vec<Loop> = ranges
        .iter()
        // A loop around this one does not disqualify it; one inside it or across it does.
        .filter(|&&r| {
            ranges
                .iter()
                .all(|&o| o == r || !overlaps(o, r) || (o.0 <= r.0 && r.1 <= o.1))
        })
        .map(|&(head, end)| Loop {
            head,
            end,
            iterations: 0,
        })
        .collect();
    // Entered only at the head: no jump from outside lands inside, and the instruction before
    // the head (if any) does not flow past it into the loop some other way.
    loops.retain(|l| code.entered_only_at_head(l.head, l.end));
    let budget = BUDGET.max(starts.len()) / loops.len().max(1);
    for l in &mut loops {
        let blocks = starts
            .iter()
            .filter(|&&s| l.head <= s && s <= l.end)
            .count();
        l.iterations = MAX_ITERATIONS.min(budget / blocks.max(1));
    }
    loops.retain(|l| l.iterations > 1);
    loops
}

/// The state on entry to each block (`None`: unreachable), given the blocks (`starts`: first
/// instruction of each, then the number of instructions), their successors and their reverse
/// postorder; the innermost loops walked per iteration, a loop's last iteration state also
/// taking every later iteration (joined, as without the walk).
pub(super) fn fixpoint(
    code: &VCode,
    starts: &[usize],
    succs: &[Vec<usize>],
    rpo: &[usize],
    regs: usize,
    packet: bool,
) -> Vec<Option<State>> {
    let loops = innermost(code, starts);
    let blocks = succs.len();
    let in_loop: Vec<Option<usize>> = (0..blocks)
        .map(|b| {
            loops
                .iter()
                .position(|l| l.head <= starts[b] && starts[b] <= l.end)
        })
        .collect();
    let contexts = |b: usize| in_loop[b].map_or(1, |l| loops[l].iterations);
    let mut base = vec![0usize; blocks + 1];
    for b in 0..blocks {
        base[b + 1] = base[b] + contexts(b);
    }
    let mut order = vec![usize::MAX; blocks];
    for (k, &b) in rpo.iter().enumerate() {
        order[b] = k;
    }
    let mut state: Vec<Option<State>> = vec![None; base[blocks]];
    state[0] = Some(vec![Val::Width(64); regs]);
    // Ordered by block, then iteration: an iteration's blocks all run before the next's head.
    let mut work = BTreeSet::from([(order[0], 0usize)]);
    while let Some((o, k)) = work.pop_first() {
        let b = rpo[o];
        let Some(mut st) = state[base[b] + k].clone() else {
            continue;
        };
        let last = starts[b + 1] - 1;
        for rec in &code.insns[starts[b]..last] {
            step(rec, &mut st, packet);
        }
        let insn = &code.insns[last];
        // In a walked loop, an edge the facts rule out is not followed.
        let decided = match (in_loop[b], &insn.insn) {
            (Some(_), Insn::Jmp { .. }) if insn.reloc.is_none() => taken(&insn.insn, &st),
            _ => None,
        };
        let target = code.target_index(&insn.insn);
        for &s in &succs[b] {
            if let Some(t) = decided {
                let is_target = target == Some(starts[s]);
                let is_next = !insn.insn.is_terminator() && last + 1 == starts[s];
                if !(if t { is_target } else { is_next }) {
                    continue;
                }
            }
            let k2 = match (in_loop[b], in_loop[s]) {
                (Some(l), Some(m)) if l == m => {
                    if starts[s] == loops[l].head {
                        (k + 1).min(loops[l].iterations - 1)
                    } else {
                        k
                    }
                }
                _ => 0,
            };
            let edge = flow(code, last, &st, starts[s], packet);
            let slot = &mut state[base[s] + k2];
            let changed = match slot {
                None => {
                    *slot = Some(edge);
                    true
                }
                Some(old) => {
                    let mut changed = false;
                    for (a, v) in old.iter_mut().zip(&edge) {
                        let j = a.join(*v);
                        if j != *a {
                            *a = j;
                            changed = true;
                        }
                    }
                    changed
                }
            };
            if changed {
                work.insert((order[s], k2));
            }
        }
    }
    // Each block's iterations joined (moved out, not copied: states are registers long).
    let mut states = state.into_iter();
    (0..blocks)
        .map(|b| {
            states
                .by_ref()
                .take(base[b + 1] - base[b])
                .flatten()
                .reduce(|mut a, s| {
                    for (x, y) in a.iter_mut().zip(&s) {
                        *x = x.join(*y);
                    }
                    a
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use ljbpf_core::insn::{AluOp, Insn, JmpOp, Reg, Size, Src};

    use super::super::code::{VCode, R};
    use super::super::facts;

    /// dnshist's label walk: `off = 12; for _ = 1, n do l = pkt[off + 22] & 255; if l == 0
    /// then break end; off = off + l + step end`, the read guarded by lowering's check. Whether
    /// the check (`if t <= 0x7fffffff`) is still there after the facts pass.
    fn check_stays(n: i32, step: i32) -> bool {
        let mut c = VCode::default();
        let (off, k, t, l) = (c.vreg(), c.vreg(), c.vreg(), c.vreg());
        let (head, ok, out) = (c.label(), c.label(), c.label());
        let alu = |op, dst, src| Insn::Alu64 { op, dst, src };
        let v = R::V;
        c.push(alu(AluOp::Mov, v(off), Src::Imm(12)), 1);
        c.push(alu(AluOp::Mov, v(k), Src::Imm(1)), 1);
        c.bind(head);
        c.push(alu(AluOp::Mov, v(t), Src::Reg(v(off))), 2);
        c.push(alu(AluOp::Add, v(t), Src::Imm(22)), 2);
        let check = Insn::Jmp {
            op: JmpOp::Jle,
            dst: v(t),
            src: Src::Imm(i32::MAX),
            target: ok,
        };
        c.push(check, 2);
        c.push(
            Insn::Alu32 {
                op: AluOp::Mov,
                dst: v(t),
                src: Src::Imm(i32::MIN),
            },
            2,
        );
        c.bind(ok);
        c.push(
            Insn::LdInd {
                size: Size::B,
                src: v(t),
                imm: 0,
            },
            2,
        );
        c.push(alu(AluOp::Mov, v(l), Src::Reg(R::P(Reg(0)))), 2);
        c.push(alu(AluOp::And, v(l), Src::Imm(255)), 2);
        let brk = Insn::Jmp {
            op: JmpOp::Jeq,
            dst: v(l),
            src: Src::Imm(0),
            target: out,
        };
        c.push(brk, 3);
        c.push(alu(AluOp::Add, v(off), Src::Reg(v(l))), 4);
        c.push(alu(AluOp::Add, v(off), Src::Imm(step)), 4);
        c.push(alu(AluOp::Add, v(k), Src::Imm(1)), 1);
        let again = Insn::Jmp {
            op: JmpOp::Jsle,
            dst: v(k),
            src: Src::Imm(n),
            target: head,
        };
        c.push(again, 1);
        c.bind(out);
        c.push(alu(AluOp::Mov, R::P(Reg(0)), Src::Reg(v(off))), 5);
        c.push(Insn::Exit, 5);
        facts::run(&mut c);
        c.insns.iter().any(|r| r.insn == check)
    }

    #[test]
    fn a_counted_loop_bounds_an_offset_that_grows_by_a_byte_per_iteration() {
        // Ten iterations add at most 10 × 256: the offset stays below 2^31.
        assert!(!check_stays(10, 1));
        // A negative step may take it below zero, where the read must fail.
        assert!(check_stays(10, -200));
        // Past the iterations walked one at a time, the loop is joined and bounds nothing.
        assert!(check_stays(super::MAX_ITERATIONS as i32 + 10, 1));
    }
}
