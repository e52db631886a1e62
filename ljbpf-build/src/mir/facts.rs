//! Known bits and constants (before legalisation): a forward dataflow over every register that
//! knows, per instruction, which registers hold a constant and how many low bits the others can
//! have set, and the rewrites those facts allow:
//!
//! - masks and zero- or sign-extensions of values whose bits are already known (`r &= 255` after
//!   a byte load, `w = w` after `be32`, `r = (s32)w` of a value below 2^31) are dropped;
//! - signed division and modulo of values known non-negative become the unsigned ones (which
//!   v3 has, so legalisation need not expand them into the sign-fixing sequence);
//! - conditions decided by the facts become `goto` or nothing (`if r s>= 0` after a modulo),
//!   and a register known to hold a constant is compared as an immediate (the condition
//!   swapped when the constant is on the left);
//! - operations on constants are folded, and operations with a neutral constant (`+ 0`, `* 1`)
//!   removed;
//! - instruction selection on pairs no jump lands between: `r = K; r op= x` with a commutative
//!   `op` becomes `r = x; r op= K` (an immediate operand, and a move the allocator can
//!   coalesce), `r = 0; r -= x` becomes `r = x; r = -r`.
//!
//! The verifier learns a value's range from masks, and needs ranges for pointer arithmetic,
//! helper size arguments and loop bounds; it does not know that a legacy packet load (LD_ABS,
//! LD_IND, Linux's `check_ld_abs` marks R0 unknown) or a byte swap leaves high bits clear. The
//! facts are therefore computed twice: with everything the compiler knows, and with only what
//! the verifier knows too. A mask the verifier could not do without stays unless the value never
//! reaches a place where the verifier wants its range (a register compare, a compare inside a
//! loop or in a program with many branches, an addition of two registers, a helper argument, a
//! memory address), directly or through other computations.

use ljbpf_core::insn::{AluOp, Insn, JmpOp, Size, Src};
use ljbpf_core::interp::{alu, Key};

use super::code::{clobbers, uses_defs, Blocks, Rec, VCode, R};

/// What is known of a register's 64-bit value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Val {
    /// Exactly this.
    Const(u64),
    /// Below 2^w as an unsigned number (`Width(64)`: nothing known).
    Width(u8),
}

const UNKNOWN: Val = Val::Width(64);

impl Val {
    pub(super) fn width(self) -> u8 {
        match self {
            Val::Const(k) => 64 - k.leading_zeros() as u8,
            Val::Width(w) => w,
        }
    }

    pub(super) fn join(self, o: Val) -> Val {
        match (self, o) {
            (Val::Const(a), Val::Const(b)) if a == b => self,
            _ => Val::Width(self.width().max(o.width())),
        }
    }
}

/// Facts per register (indexed by [`Key::key`]) on entry to an instruction.
pub(super) type State = Vec<Val>;

/// The width a result of `op` can have, from its operands' widths (64-bit operation).
fn width_of(op: AluOp, a: Val, b: Val) -> u8 {
    let (wa, wb) = (a.width(), b.width());
    let shift = match b {
        Val::Const(s) if s < 64 => Some(s as u8),
        _ => None,
    };
    let w = match op {
        AluOp::Mov => wb,
        AluOp::And => wa.min(wb),
        AluOp::Or | AluOp::Xor => wa.max(wb),
        AluOp::Add => wa.max(wb) + 1,
        AluOp::Mul => wa + wb,
        AluOp::Mod => match b {
            Val::Const(m) if m > 0 => wa.min(64 - (m - 1).leading_zeros() as u8),
            _ => wa,
        },
        AluOp::Div => wa,
        AluOp::SDiv | AluOp::SMod if wa < 64 && wb < 64 => wa,
        AluOp::Rsh => shift.map_or(wa, |s| wa.saturating_sub(s)),
        AluOp::Arsh if wa < 64 => shift.map_or(wa, |s| wa.saturating_sub(s)),
        AluOp::Lsh => shift.map_or(64, |s| wa + s),
        AluOp::Sub | AluOp::Neg | AluOp::SDiv | AluOp::SMod | AluOp::Arsh => 64,
    };
    w.min(64)
}

/// Whether the verifier of the oldest kernel ljbpf supports bounds the result of `op` on a
/// destination it knows as `a` and a source it knows as `b` (`wide`: a 64-bit operation).
/// Linux 5.14 to 6.1 (`adjust_scalar_min_max_vals`, `check_alu_op`): with a source that is not
/// a known constant, only `+`, `-` and `&` (and moves); with a constant, also `|`, `^`, shifts
/// by less than the width and products of operands below 2^32 (2^16 for 32 bits:
/// `scalar_min_max_mul`, `scalar32_min_max_mul`); never division, modulo or negation (the
/// destination is marked unknown). Later kernels track more (`|` and `^` of registers, products
/// of registers, division by a constant, negation), but a shift by a register is untracked even
/// on 6.18 (`is_safe_to_compute_dst_reg_range` wants a constant), so the weakest is modelled.
fn verifier_bounds(op: AluOp, wide: bool, a: Val, b: Val) -> bool {
    let bits: u8 = if wide { 64 } else { 32 };
    let known = matches!(b, Val::Const(_));
    match op {
        AluOp::Mov | AluOp::Add | AluOp::Sub | AluOp::And => true,
        AluOp::Or | AluOp::Xor => known,
        AluOp::Mul => known && a.width() <= bits / 2 && b.width() <= bits / 2,
        AluOp::Lsh | AluOp::Rsh | AluOp::Arsh => matches!(b, Val::Const(s) if s < u64::from(bits)),
        AluOp::Div | AluOp::Mod | AluOp::SDiv | AluOp::SMod | AluOp::Neg => false,
    }
}

/// The state after instruction `insn`; `packet`: whether packet loads and byte swaps are taken
/// to clear high bits (false: only what the verifier knows).
pub(super) fn transfer(insn: &Insn<R>, st: &mut State, packet: bool) {
    let get = |st: &State, r: R| st[r.key()];
    let src = |st: &State, s: &Src<R>, wide: bool| match s {
        Src::Reg(r) => get(st, *r),
        Src::Imm(k) if wide => Val::Const(*k as i64 as u64),
        Src::Imm(k) => Val::Const(*k as u32 as u64),
    };
    if clobbers(insn) {
        st[..=5].fill(UNKNOWN);
    }
    match insn {
        Insn::Alu64 { op, dst, src: s } | Insn::Alu32 { op, dst, src: s } => {
            let wide = matches!(insn, Insn::Alu64 { .. });
            let (a, b) = (get(st, *dst), src(st, s, wide));
            st[dst.key()] = match (a, b) {
                _ if !packet && !verifier_bounds(*op, wide, a, b) => UNKNOWN,
                (Val::Const(x), Val::Const(y)) => Val::Const(alu(*op, wide, x, y)),
                (_, Val::Const(y)) if *op == AluOp::Mov && wide => Val::Const(y),
                (_, Val::Const(y)) if *op == AluOp::Mov => Val::Const(y as u32 as u64),
                _ if wide => Val::Width(width_of(*op, a, b)),
                _ => {
                    let low = |v: Val| Val::Width(v.width().min(32));
                    let w = match op {
                        AluOp::Sub | AluOp::Neg | AluOp::SDiv | AluOp::SMod | AluOp::Arsh => 32,
                        _ => width_of(*op, low(a), low(b)),
                    };
                    Val::Width(w.min(32))
                }
            };
        }
        Insn::Sext32 { dst } => {
            st[dst.key()] = match get(st, *dst) {
                Val::Const(k) => Val::Const(k as u32 as i32 as i64 as u64),
                v if v.width() <= 31 => v,
                _ => UNKNOWN,
            };
        }
        Insn::ToBe { dst, bits } => {
            // Linux 6.1's `check_alu_op` marks a byte swap's result unknown, constant or not.
            st[dst.key()] = match (get(st, *dst), bits) {
                _ if !packet => UNKNOWN,
                (Val::Const(k), 16) => Val::Const(u64::from((k as u16).swap_bytes())),
                (Val::Const(k), 32) => Val::Const(u64::from((k as u32).swap_bytes())),
                (Val::Const(k), _) => Val::Const(k.swap_bytes()),
                (_, 16 | 32) => Val::Width(*bits),
                _ => UNKNOWN,
            };
        }
        Insn::LdImm64 { dst, imm } => st[dst.key()] = Val::Const(*imm as u64),
        Insn::LdMap { dst, .. } => st[dst.key()] = UNKNOWN,
        Insn::Ldx { size, dst, .. } => {
            st[dst.key()] = match size {
                Size::DW => UNKNOWN,
                _ => Val::Width(size.bytes() as u8 * 8),
            };
        }
        Insn::LdAbs { size, .. } | Insn::LdInd { size, .. } => {
            st[0] = match size {
                Size::DW => UNKNOWN,
                _ if packet => Val::Width(size.bytes() as u8 * 8),
                _ => UNKNOWN,
            };
        }
        Insn::Call { .. } => {}
        Insn::St { .. }
        | Insn::Stx { .. }
        | Insn::AtomicAdd { .. }
        | Insn::Ja { .. }
        | Insn::Jmp { .. }
        | Insn::Exit => {}
    }
}

/// What `x op k` holding teaches about `x` (known as `x`).
fn refine(op: JmpOp, x: Val, k: u64) -> Val {
    let Val::Width(w) = x else {
        return x;
    };
    // Below 2^63: signed and unsigned orders agree.
    let non_negative = w < 64;
    let max = match op {
        JmpOp::Jeq => return Val::Const(k),
        JmpOp::Jlt if k > 0 => k - 1,
        JmpOp::Jle => k,
        JmpOp::Jslt if non_negative && (k as i64) > 0 => k - 1,
        JmpOp::Jsle if non_negative && (k as i64) >= 0 => k,
        JmpOp::Jsgt if (k as i64) >= -1 => i64::MAX as u64,
        JmpOp::Jsge if (k as i64) >= 0 => i64::MAX as u64,
        _ => return x,
    };
    Val::Width(w.min(64 - max.leading_zeros() as u8))
}

/// Narrows the facts in `st` by what conditional jump `insn` teaches on its edge (`taken`: the
/// jump's, else the fall-through's): `if n s<= 1 goto out` leaves `n` non-negative behind it.
/// The verifier learns the same from a compare with a constant (Linux 5.14 `reg_set_min_max`,
/// then `__reg_deduce_bounds` turns `smin >= 0` into `umax <= S64_MAX`).
fn learn(insn: &Insn<R>, taken: bool, st: &mut State) {
    let Insn::Jmp { op, dst, src, .. } = *insn else {
        return;
    };
    let Some(op) = (if taken { Some(op) } else { op.negate() }) else {
        return;
    };
    match (st[dst.key()], src) {
        (_, Src::Imm(k)) => st[dst.key()] = refine(op, st[dst.key()], k as i64 as u64),
        (Val::Const(k), Src::Reg(s)) => {
            if let Some(op) = op.swap() {
                st[s.key()] = refine(op, st[s.key()], k);
            }
        }
        (_, Src::Reg(s)) => {
            if let Val::Const(k) = st[s.key()] {
                st[dst.key()] = refine(op, st[dst.key()], k);
            }
        }
    }
}

/// The state after instruction `rec`, as [`transfer`] makes it, except that a relocated
/// instruction's results are unknown: the loader rewrites its offset or immediate.
pub(super) fn step(rec: &Rec<R>, st: &mut State, packet: bool) {
    transfer(&rec.insn, st, packet);
    if rec.reloc.is_some() {
        for d in uses_defs(&rec.insn).1 {
            st[d.key()] = UNKNOWN;
        }
    }
}

/// The facts on the edge from instruction `i` (entered with `st`) to its successor `s`.
pub(super) fn flow(code: &VCode, i: usize, st: &State, s: usize, packet: bool) -> State {
    let rec = &code.insns[i];
    let mut st = st.clone();
    step(rec, &mut st, packet);
    let target = code.target_index(&rec.insn);
    // Both edges of a conditional jump to the next instruction learn nothing.
    if target != Some(i + 1) {
        learn(&rec.insn, Some(s) == target, &mut st);
    }
    st
}

/// Facts per basic block: the state on entry to each block (`None`: unreachable), from which
/// [`walk2`] recomputes the state on entry to each of its instructions.
///
/// A state per instruction would cost instructions × registers in time and memory (a
/// generated 2,000-instruction function took a second in release); inside a block each
/// instruction has one predecessor, so its state is its predecessor's after one transfer and
/// need not be kept. The fixpoint is the same as one per instruction: blocks are visited in
/// reverse postorder, so code without loops is visited once per block.
pub(super) struct Facts {
    /// The first instruction of each block, in order, then the number of instructions.
    starts: Vec<usize>,
    /// The state on entry to each block.
    entry: Vec<Option<State>>,
    /// Whether packet loads and byte swaps were taken to clear high bits.
    packet: bool,
}

impl Facts {
    /// The facts on entry to instruction `i` (`None`: unreachable), recomputed from the entry
    /// of its block.
    pub(super) fn at(&self, code: &VCode, i: usize) -> Option<State> {
        let b = self.starts.partition_point(|&s| s <= i).checked_sub(1)?;
        let mut st = self.entry.get(b)?.clone()?;
        for rec in &code.insns[self.starts[b]..i] {
            step(rec, &mut st, self.packet);
        }
        Some(st)
    }
}

/// Calls `f` with each instruction reachable in both `a` and `b` (two analyses of the same
/// code) and the facts of each on entry to it, in order.
pub(super) fn walk2(code: &VCode, a: &Facts, b: &Facts, mut f: impl FnMut(usize, &State, &State)) {
    for (blk, (ea, eb)) in a.entry.iter().zip(&b.entry).enumerate() {
        let (Some(ea), Some(eb)) = (ea, eb) else {
            continue;
        };
        let (mut sa, mut sb) = (ea.clone(), eb.clone());
        for i in a.starts[blk]..a.starts[blk + 1] {
            f(i, &sa, &sb);
            step(&code.insns[i], &mut sa, a.packet);
            step(&code.insns[i], &mut sb, b.packet);
        }
    }
}

/// The facts of `code` (`packet`: whether packet loads and byte swaps are taken to clear high
/// bits; false: only what the verifier knows).
pub(super) fn analyse(code: &VCode, packet: bool) -> Facts {
    let n = code.insns.len();
    let regs = 11 + code.vregs as usize;
    let Blocks { starts, block_of } = code.blocks();
    let blocks = starts.len() - 1;
    let succs: Vec<Vec<usize>> = (0..blocks)
        .map(|b| {
            let last = starts[b + 1] - 1;
            let insn = &code.insns[last].insn;
            let mut s = Vec::new();
            if !insn.is_terminator() && last + 1 < n {
                s.push(block_of[last + 1]);
            }
            if let Some(t) = code.target_index(insn).filter(|&t| t < n) {
                s.push(block_of[t]);
            }
            s
        })
        .collect();
    if blocks == 0 {
        return Facts {
            starts,
            entry: Vec::new(),
            packet,
        };
    }
    // Reverse postorder of the blocks reachable from the entry.
    let mut rpo = Vec::with_capacity(blocks);
    let mut seen = vec![false; blocks];
    let mut stack = vec![(0usize, 0usize)];
    seen[0] = true;
    while let Some((b, k)) = stack.last_mut() {
        if let Some(&s) = succs[*b].get(*k) {
            *k += 1;
            if !seen[s] {
                seen[s] = true;
                stack.push((s, 0));
            }
        } else {
            rpo.push(*b);
            stack.pop();
        }
    }
    rpo.reverse();
    // Bounded loops are walked an iteration at a time (the verifier walks them so too).
    let entry = super::loopfacts::fixpoint(code, &starts, &succs, &rpo, regs, packet);
    Facts {
        starts,
        entry,
        packet,
    }
}

/// Virtual registers that may hold a pointer on some path (flow-insensitive, so a register
/// that does on one path counts everywhere): copies of physical registers (the context, the
/// frame pointer, helper results) but not of a legacy packet load's R0, 32- and 64-bit loads
/// (`data` from the context, a spilled value), map addresses, and sums with any of these.
/// Bytes, halves, 32-bit operations, swaps and constants are numbers.
fn may_be_pointer(code: &VCode) -> Vec<bool> {
    let nv = code.vregs as usize;
    let mut ptr = vec![false; nv];
    let mut from: Vec<(usize, usize)> = Vec::new();
    let v = |r: &R| match r {
        R::V(v) => Some(v.0 as usize),
        R::P(_) => None,
    };
    for (i, rec) in code.insns.iter().enumerate() {
        let after_packet_load = i > 0
            && matches!(
                code.insns[i - 1].insn,
                Insn::LdAbs { .. } | Insn::LdInd { .. }
            );
        match &rec.insn {
            Insn::Alu64 { dst, src, .. } => {
                let Some(d) = v(dst) else { continue };
                match src {
                    Src::Reg(R::P(ljbpf_core::insn::Reg::R0)) if after_packet_load => {}
                    Src::Reg(R::P(_)) => ptr[d] = true,
                    Src::Reg(R::V(s)) => from.push((s.0 as usize, d)),
                    Src::Imm(_) => {}
                }
            }
            Insn::Ldx {
                size: Size::W | Size::DW,
                dst,
                ..
            }
            | Insn::LdMap { dst, .. } => {
                if let Some(d) = v(dst) {
                    ptr[d] = true;
                }
            }
            _ => {}
        }
    }
    spread(&mut ptr, &from);
    ptr
}

/// Marks `to` wherever `from` is marked, for every pair, until nothing changes.
fn spread(marked: &mut [bool], edges: &[(usize, usize)]) {
    let mut changed = true;
    while changed {
        changed = false;
        for &(from, to) in edges {
            if marked[from] && !marked[to] {
                marked[to] = true;
                changed = true;
            }
        }
    }
}

/// Virtual registers whose value may reach a place where the verifier needs its range.
/// With `counters`, what the conditions of a loop a counter bounds compare is not sensitive
/// for that reason alone.
pub(super) fn sensitive(code: &VCode, counters: bool) -> Vec<bool> {
    needed(code, counters, false)
}

/// Virtual registers whose value may reach a place where the verifier needs it exactly and
/// tracks back where it came from (marks it *precise*): an offset added to a pointer, what a
/// loop's conditions compare (its exits are decided in the end, Linux `check_cond_jmp_op`),
/// and what a compare on a path after a loop does (the compares before it may have narrowed
/// the ranges enough to decide it; where the walk back then fails, every state before is made
/// precise, the loop's included). A compare before every loop is left out (the walk may fail,
/// but no loop's states are there yet to suffer), and so are helper arguments (it tracks back
/// only sizes, which probes rarely read from the packet).
pub(super) fn precise(code: &VCode) -> Vec<bool> {
    needed(code, true, true)
}

fn needed(code: &VCode, counters: bool, precise: bool) -> Vec<bool> {
    let nv = code.vregs as usize;
    let mut sens = vec![false; nv];
    // (defined, used): a sensitive result makes what it was computed from sensitive.
    let mut flows: Vec<(usize, usize)> = Vec::new();
    let mark = |r: &R, sens: &mut Vec<bool>| {
        if let R::V(v) = r {
            sens[v.0 as usize] = true;
        }
    };
    let depth = code.loop_depth();
    let counted = if counters {
        super::counters::counted(code)
    } else {
        vec![false; code.insns.len()]
    };
    let ptr = may_be_pointer(code);
    let pointer = |r: &R| match r {
        R::V(v) => ptr[v.0 as usize],
        R::P(_) => true,
    };
    // Each conditional jump on a value of unknown range splits the verifier's path; thousands
    // of them in sequence (`if v == 1 then ... end` again and again) take it past its limit of
    // a million instructions where a mask lets it decide most of them. Past a few dozen,
    // every compared value keeps its mask.
    let jumps = code
        .insns
        .iter()
        .filter(|r| matches!(r.insn, Insn::Jmp { .. }))
        .count();
    let many = jumps > 48 && !precise;
    let after = if precise {
        after_loops(code, &depth)
    } else {
        vec![false; code.insns.len()]
    };
    for (i, rec) in code.insns.iter().enumerate() {
        match &rec.insn {
            Insn::Jmp { dst, src, .. } if after[i] => {
                mark(dst, &mut sens);
                if let Src::Reg(s) = src {
                    mark(s, &mut sens);
                }
            }
            // The verifier bounds a loop by the range of what its exit conditions compare,
            // unless a counter bounds it.
            Insn::Jmp { dst, .. } if (depth[i] > 0 && !counted[i]) || many => {
                mark(dst, &mut sens);
                if let Insn::Jmp {
                    src: Src::Reg(s), ..
                } = &rec.insn
                {
                    mark(s, &mut sens);
                }
            }
            Insn::Jmp {
                dst,
                src: Src::Reg(s),
                ..
            } if !precise => {
                mark(dst, &mut sens);
                mark(s, &mut sens);
            }
            // Pointer arithmetic wants the number's range (Linux 6.1
            // `adjust_ptr_min_max_vals`); a sum of two numbers wants none.
            Insn::Alu64 {
                op: AluOp::Add | AluOp::Sub,
                dst,
                src: Src::Reg(s),
            } if pointer(dst) || pointer(s) => {
                mark(dst, &mut sens);
                mark(s, &mut sens);
            }
            // A helper argument (R0 is only ever the program's result).
            Insn::Alu64 {
                op: AluOp::Mov,
                dst: R::P(p),
                src: Src::Reg(s),
            } if (1..=5).contains(&p.0) && !precise => mark(s, &mut sens),
            Insn::Ldx { src: base, .. }
            | Insn::Stx { dst: base, .. }
            | Insn::St { dst: base, .. }
            | Insn::AtomicAdd { dst: base, .. } => mark(base, &mut sens),
            _ => {}
        }
        let (uses, defs) = uses_defs(&rec.insn);
        for d in defs {
            if let R::V(d) = d {
                for u in &uses {
                    if let R::V(u) = u {
                        flows.push((d.0 as usize, u.0 as usize));
                    }
                }
            }
        }
        // Walking back, the verifier makes both registers of a compare precise when one is
        // (`backtrack_insn`: the compare narrowed each by the other): `if d == c` before an
        // array read at `d` makes `c` precise too.
        if let (
            true,
            Insn::Jmp {
                dst: R::V(a),
                src: Src::Reg(R::V(b)),
                ..
            },
        ) = (precise, &rec.insn)
        {
            flows.push((a.0 as usize, b.0 as usize));
            flows.push((b.0 as usize, a.0 as usize));
        }
    }
    spread(&mut sens, &flows);
    sens
}

/// The instructions outside loops that a path from a loop reaches.
fn after_loops(code: &VCode, depth: &[u32]) -> Vec<bool> {
    let succs = code.successors();
    let mut after = vec![false; code.insns.len()];
    let mut work: Vec<usize> = (0..code.insns.len()).filter(|&i| depth[i] > 0).collect();
    while let Some(i) = work.pop() {
        for &s in &succs[i] {
            if depth[s] == 0 && !after[s] {
                after[s] = true;
                work.push(s);
            }
        }
    }
    after
}

/// Whether `x op k` has one answer for every `x` below 2^w (the range is in [0, 2^63), where
/// signed and unsigned orders agree and each order comparison is monotone in `x`).
fn decided(op: JmpOp, w: u8, k: u64) -> Option<bool> {
    if w >= 64 {
        return None;
    }
    let hi = if w == 0 { 0 } else { (1u64 << w) - 1 };
    match op {
        JmpOp::Jeq | JmpOp::Jne => (k > hi).then_some(op == JmpOp::Jne),
        JmpOp::Jset => (k & hi == 0).then_some(false),
        _ => {
            let (a, b) = (op.eval(0, k as i64), op.eval(hi as i64, k as i64));
            (a == b).then_some(a)
        }
    }
}

/// Whether the conditional jump `insn` is taken, when the facts `st` on entry decide it.
pub(super) fn taken(insn: &Insn<R>, st: &State) -> Option<bool> {
    let Insn::Jmp { op, dst, src, .. } = *insn else {
        return None;
    };
    let b = match src {
        Src::Reg(r) => st[r.key()],
        Src::Imm(k) => Val::Const(k as i64 as u64),
    };
    match (st[dst.key()], b) {
        (Val::Const(x), Val::Const(y)) => Some(op.eval(x as i64, y as i64)),
        (Val::Width(w), Val::Const(k)) => decided(op, w, k),
        _ => None,
    }
}

/// The instruction that sets `dst` to the 64-bit constant `c`.
pub(super) fn load_const(dst: R, c: u64) -> Insn<R> {
    match i32::try_from(c as i64) {
        Ok(k) => Insn::Alu64 {
            op: AluOp::Mov,
            dst,
            src: Src::Imm(k),
        },
        Err(_) => Insn::LdImm64 { dst, imm: c as i64 },
    }
}

/// What to do with one instruction.
enum Edit {
    Keep,
    Drop,
    Replace(Insn<R>),
}

/// The edit the facts allow for `insn`, given the facts on entry (`sem`: everything known,
/// `ver`: what the verifier knows), which registers are range-sensitive and whether a
/// division must stay one (see `divisions_kept`).
fn edit(insn: &Insn<R>, sem: &State, ver: &State, sens: &[bool], keep_division: bool) -> Edit {
    let is_sensitive = |r: &R| match r {
        R::V(v) => sens[v.0 as usize],
        R::P(_) => true,
    };
    // A mask keeping the low `bits` of `r` is redundant when the bits above are known clear.
    let redundant = |r: &R, bits: u8| {
        ver[r.key()].width() <= bits || (sem[r.key()].width() <= bits && !is_sensitive(r))
    };
    let value = |s: &Src<R>, wide: bool| match s {
        Src::Reg(r) => sem[r.key()],
        Src::Imm(k) if wide => Val::Const(*k as i64 as u64),
        Src::Imm(k) => Val::Const(*k as u32 as u64),
    };
    match *insn {
        Insn::Alu64 {
            op: AluOp::And,
            dst,
            src: Src::Imm(m),
        } if m >= 0 && (m as u64 + 1).is_power_of_two() => {
            let bits = 64 - (m as u64).leading_zeros() as u8;
            if redundant(&dst, bits) {
                return Edit::Drop;
            }
        }
        Insn::Alu32 {
            op: AluOp::Mov,
            dst,
            src: Src::Reg(s),
        } if s == dst && redundant(&dst, 32) => return Edit::Drop,
        Insn::Sext32 { dst } if redundant(&dst, 31) => return Edit::Drop,
        Insn::Alu64 {
            op: op @ (AluOp::SDiv | AluOp::SMod),
            dst,
            src,
        } => {
            let b = value(&src, true);
            if sem[dst.key()].width() < 64 && b.width() < 64 {
                let op = if op == AluOp::SDiv {
                    AluOp::Div
                } else {
                    AluOp::Mod
                };
                return Edit::Replace(Insn::Alu64 { op, dst, src });
            }
        }
        // Unsigned division and modulo by a power of two are a shift and a mask (cheaper to
        // run, and the verifier bounds their results), except where `run` says otherwise.
        Insn::Alu64 { op: AluOp::Div, .. } | Insn::Alu32 { op: AluOp::Div, .. }
            if keep_division => {}
        Insn::Alu64 {
            op: op @ (AluOp::Div | AluOp::Mod),
            dst,
            src: Src::Imm(k),
        }
        | Insn::Alu32 {
            op: op @ (AluOp::Div | AluOp::Mod),
            dst,
            src: Src::Imm(k),
        } if k > 1 && (k as u32).is_power_of_two() => {
            let (op, k) = match op {
                AluOp::Div => (AluOp::Rsh, k.trailing_zeros() as i32),
                _ => (AluOp::And, k - 1),
            };
            let src = Src::Imm(k);
            return Edit::Replace(match insn {
                Insn::Alu64 { .. } => Insn::Alu64 { op, dst, src },
                _ => Insn::Alu32 { op, dst, src },
            });
        }
        Insn::Jmp {
            op,
            dst,
            src,
            target,
        } => {
            let (a, b) = (sem[dst.key()], value(&src, true));
            // A constant compared with a register needs no register of its own.
            if let (Val::Const(k), Src::Reg(s), Some(swapped)) = (a, src, op.swap()) {
                if let (Ok(k), false) = (i32::try_from(k as i64), matches!(b, Val::Const(_))) {
                    return Edit::Replace(Insn::Jmp {
                        op: swapped,
                        dst: s,
                        src: Src::Imm(k),
                        target,
                    });
                }
            }
            if let (Val::Const(k), Src::Reg(_), false) = (b, src, matches!(a, Val::Const(_))) {
                if let Ok(k) = i32::try_from(k as i64) {
                    return Edit::Replace(Insn::Jmp {
                        op,
                        dst,
                        src: Src::Imm(k),
                        target,
                    });
                }
            }
            // A bounds check the verifier needs (the compared value later becomes a packet
            // offset or an address) goes only when the verifier could decide it too.
            let decided = match taken(insn, sem) {
                Some(t) if !is_sensitive(&dst) || taken(insn, ver) == Some(t) => Some(t),
                _ => None,
            };
            return match decided {
                Some(true) => Edit::Replace(Insn::Ja { target }),
                Some(false) => Edit::Drop,
                None => Edit::Keep,
            };
        }
        _ => {}
    }
    // Folding and neutral operands.
    let (op, dst, src, wide) = match *insn {
        Insn::Alu64 { op, dst, src } => (op, dst, src, true),
        Insn::Alu32 { op, dst, src } => (op, dst, src, false),
        _ => return Edit::Keep,
    };
    if op == AluOp::Mov {
        return Edit::Keep;
    }
    let (a, b) = (sem[dst.key()], value(&src, wide));
    if let (Val::Const(x), Val::Const(y)) = (a, b) {
        let c = alu(op, wide, x, y);
        return Edit::Replace(load_const(dst, c));
    }
    let neutral = matches!(
        (op, b),
        (
            AluOp::Add
                | AluOp::Sub
                | AluOp::Or
                | AluOp::Xor
                | AluOp::Lsh
                | AluOp::Rsh
                | AluOp::Arsh,
            Val::Const(0)
        ) | (AluOp::Mul | AluOp::Div | AluOp::SDiv, Val::Const(1))
            | (AluOp::And, Val::Const(u64::MAX))
    );
    // A 32-bit operation also clears the high half, which a neutral operand does not undo.
    if neutral && (wide || a.width() <= 32) {
        return Edit::Drop;
    }
    // `x s>> 63` of a non-negative x is 0.
    if let (AluOp::Arsh, true, Val::Const(63)) = (op, wide, b) {
        if a.width() < 64 {
            return Edit::Replace(load_const(dst, 0));
        }
    }
    Edit::Keep
}

/// `r = K; r op= x` → `r = x; r op= K` for commutative `op`, and `r = 0; r -= x` →
/// `r = x; r = -r`, when no jump lands on the second instruction.
fn select_pairs(code: &mut VCode) -> bool {
    let landed = code.landed();
    let mut changed = false;
    for i in 0..code.insns.len().saturating_sub(1) {
        if landed[i + 1] {
            continue;
        }
        let (
            Insn::Alu64 {
                op: AluOp::Mov,
                dst: d1,
                src: Src::Imm(k),
            },
            Insn::Alu64 {
                op,
                dst: d2,
                src: Src::Reg(x),
            },
        ) = (code.insns[i].insn, code.insns[i + 1].insn)
        else {
            continue;
        };
        if d1 != d2 || x == d1 {
            continue;
        }
        let second = match op {
            AluOp::Add | AluOp::Mul | AluOp::And | AluOp::Or | AluOp::Xor => Insn::Alu64 {
                op,
                dst: d1,
                src: Src::Imm(k),
            },
            AluOp::Sub if k == 0 => Insn::Alu64 {
                op: AluOp::Neg,
                dst: d1,
                src: Src::Imm(0),
            },
            _ => continue,
        };
        code.insns[i].insn = Insn::Alu64 {
            op: AluOp::Mov,
            dst: d1,
            src: Src::Reg(x),
        };
        code.insns[i + 1].insn = second;
        changed = true;
    }
    changed
}

/// The divisions that stay divisions, not shifts: in a loop a counter bounds, of a value a
/// condition of the loop compares. The verifier tracks a shift's
/// result exactly, and such a loop (`while n > 1 and k < 64 do if n % 2 == 0 then n = n / 2
/// else n = 3 * n + 1 end k = k + 1 end` on a packet byte) then has a state per history of
/// halvings and triplings at each count, which do not prune each other: past its limit of a
/// million instructions where the verifier knows the byte's range (a direct read, a mask), and
/// 85,800 instructions even where it does not (an LD_ABS byte), many times that where a second
/// such loop follows. After a division it knows nothing of the value and the paths merge
/// (Linux 6.18: 2,400 instructions). The `widen` pass then makes such a division a shift the
/// verifier cannot follow, which costs the CPU less. Without a counter, the halving itself is
/// what ends the loop for the verifier (`while m > 1 do m = m / 4 end`): it must see the
/// shift, or it finds the same unknown state again and reports an infinite loop.
fn divisions_kept(code: &VCode) -> Vec<bool> {
    let counted = super::counters::counted(code);
    let mut compared: Option<Vec<bool>> = None;
    (0..code.insns.len())
        .map(|i| match code.insns[i].insn {
            Insn::Alu64 {
                op: AluOp::Div,
                dst: R::V(v),
                ..
            }
            | Insn::Alu32 {
                op: AluOp::Div,
                dst: R::V(v),
                ..
            } if counted[i] => compared.get_or_insert_with(|| sensitive(code, false))[v.0 as usize],
            _ => false,
        })
        .collect()
}

/// Runs the pass in place, until nothing changes.
pub fn run(code: &mut VCode) {
    // A loop's counter goes second in a compare with a register that is not one, where Linux
    // 6.1 can decide it (`counters_first`).
    for i in super::counters::counters_first(code) {
        if let Insn::Jmp {
            op,
            dst,
            src: Src::Reg(s),
            target,
        } = code.insns[i].insn
        {
            if let Some(op) = op.swap() {
                code.insns[i].insn = Insn::Jmp {
                    op,
                    dst: s,
                    src: Src::Reg(dst),
                    target,
                };
            }
        }
    }
    for _ in 0..4 {
        let mut changed = select_pairs(code);
        let sem = analyse(code, true);
        let ver = analyse(code, false);
        let sens = sensitive(code, true);
        let keep_division = divisions_kept(code);
        let mut keep = vec![true; code.insns.len()];
        // Edits are collected first: the walk needs each instruction as the facts saw it.
        let mut edits: Vec<(usize, Insn<R>)> = Vec::new();
        walk2(code, &sem, &ver, |i, s, v| {
            let rec = &code.insns[i];
            if rec.reloc.is_some() {
                return;
            }
            match edit(&rec.insn, s, v, &sens, keep_division[i]) {
                Edit::Keep => {}
                Edit::Drop => keep[i] = false,
                Edit::Replace(insn) => edits.push((i, insn)),
            }
        });
        changed |= !edits.is_empty() || keep.contains(&false);
        for (i, insn) in edits {
            code.insns[i].insn = insn;
        }
        code.retain(&keep);
        if !changed {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use ljbpf_core::insn::Reg;

    use super::super::code::VReg;
    use super::*;

    fn v(n: u32) -> R {
        R::V(VReg(n))
    }

    fn alu(wide: bool, op: AluOp, dst: R, src: Src<R>) -> Insn<R> {
        if wide {
            Insn::Alu64 { op, dst, src }
        } else {
            Insn::Alu32 { op, dst, src }
        }
    }

    /// The fact on `v0` after `insns`, with everything known and with what the verifier knows.
    fn after(insns: &[Insn<R>]) -> (Val, Val) {
        let run = |packet: bool| {
            let mut st = vec![UNKNOWN; 11 + 4];
            for insn in insns {
                transfer(insn, &mut st, packet);
            }
            st[v(0).key()]
        };
        (run(true), run(false))
    }

    /// `v0` and `v1` loaded as one byte each from the context.
    fn bytes() -> Vec<Insn<R>> {
        [v(0), v(1)]
            .map(|dst| Insn::Ldx {
                size: Size::B,
                dst,
                src: R::P(Reg(1)),
                off: 0,
            })
            .to_vec()
    }

    #[test]
    fn the_verifier_model_is_the_oldest_kernels() {
        // A shift by a register is bounded by no kernel's verifier; `|`, `^` and `*` of two
        // registers not by 6.1's; division never.
        for op in [
            AluOp::Rsh,
            AluOp::Lsh,
            AluOp::Or,
            AluOp::Xor,
            AluOp::Mul,
            AluOp::Div,
        ] {
            for wide in [true, false] {
                let mut insns = bytes();
                insns.push(alu(wide, op, v(0), Src::Reg(v(1))));
                let (sem, ver) = after(&insns);
                assert!(
                    op == AluOp::Lsh || sem.width() <= 32,
                    "{op:?} {wide}: {sem:?}"
                );
                assert_eq!(ver, UNKNOWN, "{op:?} {wide}");
            }
        }
        // With a constant source they are bounded (a shift only by less than the width).
        for (op, k, w) in [(AluOp::Rsh, 3, 5), (AluOp::Lsh, 4, 12), (AluOp::Or, 7, 8)] {
            let mut insns = bytes();
            insns.push(alu(true, op, v(0), Src::Imm(k)));
            assert_eq!(after(&insns), (Val::Width(w), Val::Width(w)), "{op:?}");
        }
        // `+`, `-` and `&` of registers are.
        let mut insns = bytes();
        insns.push(alu(true, AluOp::Add, v(0), Src::Reg(v(1))));
        assert_eq!(after(&insns), (Val::Width(9), Val::Width(9)));
        // A product is bounded only below 2^32 (2^16 in 32 bits).
        let mut insns = bytes();
        insns.push(alu(true, AluOp::Lsh, v(0), Src::Imm(30)));
        insns.push(alu(true, AluOp::Mul, v(0), Src::Imm(3)));
        assert_eq!(after(&insns), (Val::Width(40), UNKNOWN));
        // Negation and byte swaps leave the destination unknown even of a constant.
        let k = alu(true, AluOp::Mov, v(0), Src::Imm(5));
        let neg = alu(true, AluOp::Neg, v(0), Src::Imm(0));
        assert_eq!(after(&[k, neg]), (Val::Const(5u64.wrapping_neg()), UNKNOWN));
        let swap = Insn::ToBe {
            dst: v(0),
            bits: 16,
        };
        assert_eq!(after(&[k, swap]), (Val::Const(0x500), UNKNOWN));
    }

    #[test]
    fn a_32_bit_move_keeps_the_low_half_of_a_constant() {
        let big = Insn::LdImm64 {
            dst: v(1),
            imm: 0x1_0000_0007,
        };
        let mov = alu(false, AluOp::Mov, v(0), Src::Reg(v(1)));
        let mut insns = bytes();
        insns.truncate(1);
        insns.extend([big, mov]);
        assert_eq!(after(&insns), (Val::Const(7), Val::Const(7)));
    }

    #[test]
    fn a_compare_bounds_a_value_and_powers_of_two_divide_by_shifting() {
        let mut c = VCode::default();
        let (n, m) = (c.vreg(), c.vreg());
        let out = c.label();
        let r0 = R::P(Reg(0));
        c.push(
            Insn::Ldx {
                size: Size::DW,
                dst: R::V(n),
                src: R::P(Reg(1)),
                off: 0,
            },
            1,
        );
        // Behind `if n s<= 1 goto out`, n is non-negative.
        c.push(
            Insn::Jmp {
                op: JmpOp::Jsle,
                dst: R::V(n),
                src: Src::Imm(1),
                target: out,
            },
            1,
        );
        c.push(alu(true, AluOp::Mov, R::V(m), Src::Reg(R::V(n))), 2);
        c.push(alu(true, AluOp::SMod, R::V(m), Src::Imm(2)), 2);
        c.push(alu(false, AluOp::SDiv, R::V(n), Src::Imm(4)), 2);
        c.push(alu(true, AluOp::Mov, r0, Src::Reg(R::V(m))), 3);
        c.push(alu(true, AluOp::Add, r0, Src::Reg(R::V(n))), 3);
        c.bind(out);
        c.push(Insn::Exit, 3);
        run(&mut c);
        let body: Vec<Insn<R>> = c.insns[3..5].iter().map(|r| r.insn).collect();
        // The 32-bit division stays signed: its operand's low half may be negative.
        assert_eq!(
            body,
            [
                alu(true, AluOp::And, R::V(m), Src::Imm(1)),
                alu(false, AluOp::SDiv, R::V(n), Src::Imm(4)),
            ]
        );
        assert_eq!(
            refine(JmpOp::Jlt, UNKNOWN, 256),
            Val::Width(8),
            "unsigned below 256"
        );
        assert_eq!(
            refine(JmpOp::Jslt, UNKNOWN, 256),
            UNKNOWN,
            "may be negative"
        );
        assert_eq!(refine(JmpOp::Jslt, Val::Width(63), 256), Val::Width(8));
        assert_eq!(refine(JmpOp::Jsgt, UNKNOWN, u64::MAX), Val::Width(63));
        assert_eq!(refine(JmpOp::Jsgt, UNKNOWN, (-2i64) as u64), UNKNOWN);
    }
}
