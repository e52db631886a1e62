//! The control-flow graph of one prototype: basic blocks, predecessors, endless loops.

use super::*;

/// A block of a cycle that no path leaves (`while true do end`), if there is one.
pub(super) fn endless_loop(blocks: &[Block], preds: &[Vec<usize>]) -> Option<usize> {
    let n = blocks.len();
    let mut succs = vec![Vec::new(); n];
    for (b, ps) in preds.iter().enumerate() {
        for &p in ps {
            succs[p].push(b);
        }
    }
    let reach: Vec<Vec<bool>> = (0..n)
        .map(|b| {
            let mut seen = vec![false; n];
            let mut work = succs[b].clone();
            while let Some(x) = work.pop() {
                if !seen[x] {
                    seen[x] = true;
                    work.extend(succs[x].iter().copied());
                }
            }
            seen
        })
        .collect();
    (0..n).find(|&b| {
        if !reach[b][b] {
            return false;
        }
        // b's cycle: the blocks it reaches that reach it back. It has an exit when one of them
        // returns (no successors) or jumps outside.
        let cycle: Vec<usize> = (0..n).filter(|&x| reach[b][x] && reach[x][b]).collect();
        !cycle
            .iter()
            .any(|&x| succs[x].is_empty() || succs[x].iter().any(|y| !cycle.contains(y)))
    })
}

/// The predecessors of each block (from the bytecode's jumps and fall-throughs).
pub(super) fn predecessors(proto: &Proto, blocks: &[Block]) -> Vec<Vec<usize>> {
    let mut preds = vec![Vec::new(); blocks.len()];
    let index = |pc: isize| blocks.iter().position(|b| b.start as isize == pc);
    for (from, b) in blocks.iter().enumerate() {
        let last = b.end - 1;
        let (ins, _) = proto.ins[last];
        let mut succ = Vec::new();
        // LOOP's operand is the loop exit for the JIT; the interpreter falls through it.
        if ins.op.has_jump() && !matches!(ins.op, Op::LOOP | Op::ILOOP) {
            succ.push(ins.jump_target(last));
        }
        let falls = !matches!(
            ins.op,
            Op::JMP | Op::RET | Op::RET0 | Op::RET1 | Op::RETM | Op::CALLT | Op::CALLMT
        );
        let cond_jmp = ins.op == Op::JMP && last > b.start && proto.ins[last - 1].0.op.is_cond();
        if falls || cond_jmp {
            succ.push(b.end as isize);
        }
        for s in succ {
            if let Some(i) = index(s) {
                if !preds[i].contains(&from) {
                    preds[i].push(from);
                }
            }
        }
    }
    preds
}

pub(super) fn split_blocks(proto: &Proto) -> Vec<Block> {
    let n = proto.ins.len();
    let mut leader = vec![false; n + 1];
    leader[1.min(n)] = true;
    for (pc, (ins, _)) in proto.ins.iter().enumerate().skip(1) {
        if ins.op.has_jump() {
            let t = ins.jump_target(pc);
            if t >= 1 && (t as usize) < n {
                leader[t as usize] = true;
            }
        }
        if matches!(
            ins.op,
            Op::JMP
                | Op::RET
                | Op::RET0
                | Op::RET1
                | Op::RETM
                | Op::CALLT
                | Op::CALLMT
                | Op::LOOP
                | Op::FORI
                | Op::FORL
        ) && pc < n
        {
            leader[pc + 1] = true;
        }
    }
    let mut blocks = Vec::new();
    let mut start = 1;
    for (pc, &is_leader) in leader.iter().enumerate().skip(2) {
        if is_leader || pc == n {
            if start < pc {
                blocks.push(Block { start, end: pc });
            }
            start = pc;
        }
    }
    if blocks.is_empty() {
        blocks.push(Block {
            start: 1,
            end: n.max(1),
        });
    }
    blocks
}
