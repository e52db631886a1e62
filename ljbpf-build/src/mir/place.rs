//! Block placement (after register allocation): inside a loop, the way through a conditional
//! that is likely taken falls through, and the unlikely arm moves out of the way.
//!
//! A taken branch costs more than one that is not: it ends the CPU's fetch block, and in a
//! loop it is paid on every iteration (on the benchmark's 64-byte checksum loop, a then-arm
//! moved out of line is 5-8% faster over many JIT placements). With no profile, the
//! prediction is the opcode heuristic of Ball and Larus ("Branch prediction for free", PLDI
//! 1993): an equality test is usually false, so `if a != b goto L` usually jumps. Two shapes,
//! each arm a single block, are rewritten so that `L` follows instead:
//!
//! - with an else, `if a != b goto E; T; goto J; E: F; J:` becomes
//!   `if a == b goto T; F; goto J; T: T; J:` (the arms swap places, no instruction more);
//! - without one, `if a != b goto J; T; J:` becomes `if a == b goto T; J: ...`, and `T; goto J`
//!   goes after the program's last instruction (one jump more, run only when the test holds).
//!
//! The verifier walks a branch's fall-through first: the swap also changes which arm it
//! explores first, and every path it walks is the same.

use ljbpf_core::insn::{Insn, JmpOp, Label};

use super::code::{Blocks, PCode, Rec};

/// Jump offsets are signed 16-bit slot counts: code that long is left as it is, so that a
/// block moved to the end stays in reach of the jumps to and from it.
const REACH: usize = 32_000;

/// Runs the pass in place.
pub fn run(code: &mut PCode) {
    if code
        .insns
        .iter()
        .map(|r| r.insn.slots() as usize)
        .sum::<usize>()
        > REACH
    {
        return;
    }
    let blocks = code.blocks();
    let nb = blocks.starts.len() - 1;
    let depth = code.loop_depth();
    let last = |b: usize| &code.insns[blocks.starts[b + 1] - 1].insn;
    let target_block = |b: usize| code.target_index(last(b)).map(|t| blocks.block_of[t]);
    // Blocks that go to the end, blocks that swap places with the next one, and the blocks
    // whose conditional jump is inverted.
    let mut to_end = vec![false; nb];
    let mut swapped = vec![false; nb];
    let mut inverted = vec![false; nb];
    let mut b = 0;
    while b + 1 < nb {
        let end = blocks.starts[b + 1] - 1;
        let likely_jump = matches!(last(b), Insn::Jmp { op: JmpOp::Jne, .. }) && depth[end] > 0;
        let (f, t) = (b + 1, target_block(b));
        let falls = |x: usize| x < nb && last(x).target().is_none() && !last(x).is_terminator();
        if !likely_jump {
            b += 1;
            continue;
        }
        if t == Some(f + 1) && falls(f) {
            // Without an else: the arm goes to the end.
            to_end[f] = true;
            inverted[b] = true;
            b += 2;
        } else if t == Some(f + 1)
            && matches!(last(f), Insn::Ja { .. })
            && target_block(f) == Some(f + 2)
            && falls(f + 1)
        {
            // With an else: the arms swap.
            swapped[f] = true;
            inverted[b] = true;
            b += 3;
        } else {
            b += 1;
        }
    }
    if !inverted.contains(&true) {
        return;
    }
    let mut order: Vec<usize> = Vec::with_capacity(nb);
    let mut b = 0;
    while b < nb {
        if swapped[b] {
            order.extend([b + 1, b]);
            b += 2;
            continue;
        }
        if !to_end[b] {
            order.push(b);
        }
        b += 1;
    }
    order.extend((0..nb).filter(|&b| to_end[b]));
    emit(code, &blocks, &order, &inverted);
}

/// Rewrites `code` with its blocks in `order`, inverting the conditional jumps ending the
/// blocks marked in `inverted` (their old fall-through becomes their target), and adding a jump
/// wherever a block's old fall-through no longer follows it.
fn emit(code: &mut PCode, blocks: &Blocks, order: &[usize], inverted: &[bool]) {
    let Blocks { starts, block_of } = blocks;
    let nb = starts.len() - 1;
    let n = code.insns.len();
    let old = std::mem::take(&mut code.insns);
    // A label at the start of each block a new or inverted jump lands on.
    let mut block_label: Vec<Option<Label>> = vec![None; nb + 1];
    let mut label_of =
        |code: &mut PCode, b: usize| *block_label[b].get_or_insert_with(|| code.label());
    let mut new_index = vec![usize::MAX; n + 1];
    for (k, &b) in order.iter().enumerate() {
        for i in starts[b]..starts[b + 1] {
            new_index[i] = code.insns.len();
            let mut rec = old[i].clone();
            // A jump to the block that now follows goes.
            if let Insn::Ja { .. } = rec.insn {
                let to = code.target_index(&rec.insn).map(|t| block_of[t]);
                if to.is_some() && to == order.get(k + 1).copied() {
                    continue;
                }
            }
            if i + 1 == starts[b + 1] && inverted[b] {
                if let Insn::Jmp { op, dst, src, .. } = rec.insn {
                    let target = label_of(code, b + 1);
                    let op = op.negate().unwrap_or(op);
                    rec.insn = Insn::Jmp {
                        op,
                        dst,
                        src,
                        target,
                    };
                }
            }
            code.insns.push(rec);
        }
        // The block's fall-through: still next, or reached by a jump now.
        let last = &old[starts[b + 1] - 1];
        let fall = if inverted[b] {
            code.target_index(&last.insn).map(|t| block_of[t])
        } else if last.insn.is_terminator() {
            None
        } else {
            Some(b + 1)
        };
        if let Some(next) = fall.filter(|&x| x < nb && order.get(k + 1) != Some(&x)) {
            let target = label_of(code, next);
            code.insns.push(Rec::new(Insn::Ja { target }, last.line));
        }
    }
    new_index[n] = code.insns.len();
    for l in code.labels.iter_mut() {
        *l = l.map(|i| new_index[i]);
    }
    for (b, l) in block_label.iter().enumerate() {
        if let Some(l) = l {
            code.labels[l.0 as usize] = Some(new_index[starts[b]]);
        }
    }
}
