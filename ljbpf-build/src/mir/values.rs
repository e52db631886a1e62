//! Values numbered across blocks (before legalisation), in two rounds:
//!
//! 1. A computation whose value a virtual register still holds on every path becomes a copy of
//!    that register: the packet pointer `data + ihl * 4 + 16` lowered again for a store, a byte
//!    loaded again and masked the same way, a map value read twice with no store in between.
//!    Values are numbered by what computes them (operation and operands' numbers; a load by its
//!    address and the memory's number, which every store and call renews), where paths with
//!    different values meet the register gets a number of its own.
//! 2. A conditional jump that the conditions already taken on the way decide goes: the same
//!    compare of the same registers, and a packet bounds check `p + k' > end` after
//!    `p + k <= end` with `k' <= k` (a smaller end of the same pointer). Here only copies and
//!    constant offsets keep a number, as the verifier links them: a copy of a register is the
//!    same register to it (`mark_reg`/`find_equal_scalars`, and packet pointers share an `id`
//!    whose checked range `find_good_pkt_pointers` gives to every copy, Linux 6.1
//!    kernel/bpf/verifier.c), so a check on one is known for its copies and the accesses the
//!    dropped jump guarded are still within the range the verifier learnt.

use std::collections::HashMap;

use ljbpf_core::insn::{AluOp, Insn, JmpOp, Reg, Size, Src};
use ljbpf_core::interp::{alu, Key};

use super::code::{clobbers, uses_defs, Blocks, Rec, VCode, R};
use super::facts;

/// A value number.
type Vn = u32;

/// The slot of the memory's number next to the registers'.
const MEM: usize = usize::MAX;

/// What a value number stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Expr {
    /// What register (key) holds on entry.
    Entry(usize),
    /// What instruction `i` leaves in a register (key) or the memory, by means not modelled.
    Fresh(usize, usize),
    /// Where different values meet at instruction `i`, in a register (key) or the memory.
    Phi(usize, usize),
    /// A 64-bit constant.
    Const(u64),
    /// `a op b`.
    Alu { wide: bool, op: AluOp, a: Vn, b: Vn },
    /// `(s64)(s32)a`.
    Sext32(Vn),
    /// A byte swap.
    ToBe(u8, Vn),
    /// `*(size *)(base + off)` with the memory as `mem` numbered it.
    Load {
        size: Size,
        base: Vn,
        off: i16,
        mem: Vn,
    },
}

/// Numbers handed out, each expression once.
#[derive(Default)]
struct Table {
    exprs: Vec<Expr>,
    ids: HashMap<Expr, Vn>,
    /// Numbers of values that may be packet pointers: 32-bit context fields (`data`), and sums
    /// with them.
    pointers: Vec<bool>,
}

impl Table {
    fn vn(&mut self, e: Expr) -> Vn {
        if let Some(&v) = self.ids.get(&e) {
            return v;
        }
        let v = self.exprs.len() as Vn;
        self.exprs.push(e);
        self.ids.insert(e, v);
        v
    }

    fn get(&self, v: Vn) -> Expr {
        self.exprs[v as usize]
    }

    fn pointer(&self, v: Vn) -> bool {
        self.pointers.get(v as usize).copied().unwrap_or(false)
    }

    fn mark_pointer(&mut self, v: Vn) {
        if self.pointers.len() <= v as usize {
            self.pointers.resize(v as usize + 1, false);
        }
        self.pointers[v as usize] = true;
    }
}

/// Which values keep a number beyond the instruction that makes them.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Every computation the table models.
    Values,
    /// Only copies, constants and constant offsets: what the verifier links.
    Copies,
}

/// The numbers on entry to an instruction, and the conditions known to hold there.
#[derive(Clone, PartialEq)]
struct State {
    regs: Vec<Vn>,
    mem: Vn,
    facts: Vec<(JmpOp, Vn, Vn)>,
}

/// How many conditions a state keeps (the most recent), to bound the work.
const FACTS: usize = 32;

impl State {
    fn get(&self, r: R) -> Vn {
        self.regs[r.key()]
    }
}

/// The number of an operand.
fn operand(t: &mut Table, st: &State, s: &Src<R>, wide: bool) -> Vn {
    match *s {
        Src::Reg(r) => st.get(r),
        Src::Imm(k) if wide => t.vn(Expr::Const(k as i64 as u64)),
        Src::Imm(k) => t.vn(Expr::Const(k as u32 as u64)),
    }
}

/// The number of `a op b`, constants folded, constant offsets merged, commutative operands in
/// one order. With [`Mode::Copies`] only sums of a constant and a pointer-like value keep a
/// number (the verifier keeps a packet pointer's `id` through a constant offset, Linux 6.1
/// `adjust_ptr_min_max_vals`, but gives a sum with a variable a new one and links no scalar
/// sums).
#[allow(clippy::too_many_arguments)]
fn alu_vn(
    t: &mut Table,
    mode: Mode,
    i: usize,
    key: usize,
    wide: bool,
    op: AluOp,
    a: Vn,
    b: Vn,
) -> Vn {
    let konst = |t: &Table, v: Vn| match t.get(v) {
        Expr::Const(k) => Some(k),
        _ => None,
    };
    let (ka, kb) = (konst(t, a), konst(t, b));
    if let (Some(x), Some(y)) = (ka, kb) {
        if mode == Mode::Values || (wide && op == AluOp::Add) {
            return t.vn(Expr::Const(alu(op, wide, x, y)));
        }
    }
    let commutative = matches!(
        op,
        AluOp::Add | AluOp::Mul | AluOp::And | AluOp::Or | AluOp::Xor
    );
    let (a, b, kb) = if commutative && (ka.is_some() || (kb.is_none() && a > b)) {
        (b, a, ka)
    } else {
        (a, b, kb)
    };
    if mode == Mode::Copies {
        if !(wide && op == AluOp::Add && t.pointer(a)) {
            return t.vn(Expr::Fresh(i, key));
        }
        if kb.is_none() {
            let v = t.vn(Expr::Fresh(i, key));
            t.mark_pointer(v);
            return v;
        }
    }
    let merged = match (wide, op, kb, t.get(a)) {
        (
            true,
            AluOp::Add,
            Some(kb),
            Expr::Alu {
                wide: true,
                op: AluOp::Add,
                a: x,
                b: k,
            },
        ) => konst(t, k).map(|ka| (x, ka.wrapping_add(kb))),
        _ => None,
    };
    let v = match merged {
        Some((x, k)) => {
            let k = t.vn(Expr::Const(k));
            t.vn(Expr::Alu {
                wide,
                op,
                a: x,
                b: k,
            })
        }
        None => t.vn(Expr::Alu { wide, op, a, b }),
    };
    if mode == Mode::Copies {
        t.mark_pointer(v);
    }
    v
}

/// The state after instruction `i`.
fn transfer(t: &mut Table, mode: Mode, i: usize, rec: &Rec<R>, st: &mut State) {
    let insn = &rec.insn;
    let fresh = |t: &mut Table, r: R| t.vn(Expr::Fresh(i, r.key()));
    if clobbers(insn) {
        for r in 0..=5 {
            st.regs[r] = fresh(t, R::P(Reg(r as u8)));
        }
    }
    if rec.reloc.is_some() {
        // The loader rewrites the offset or immediate: equal instructions may differ.
        for d in uses_defs(insn).1 {
            st.regs[d.key()] = fresh(t, d);
        }
        return;
    }
    match *insn {
        Insn::Alu64 {
            op: AluOp::Mov,
            dst,
            src,
        } => st.regs[dst.key()] = operand(t, st, &src, true),
        Insn::Alu32 {
            op: AluOp::Mov,
            dst,
            src: Src::Imm(k),
        } => st.regs[dst.key()] = t.vn(Expr::Const(k as u32 as u64)),
        Insn::Alu32 {
            op: AluOp::Mov,
            dst,
            src: Src::Reg(s),
        } => {
            st.regs[dst.key()] = match mode {
                Mode::Values => {
                    let a = st.get(s);
                    t.vn(Expr::Alu {
                        wide: false,
                        op: AluOp::Mov,
                        a,
                        b: a,
                    })
                }
                Mode::Copies => fresh(t, dst),
            }
        }
        Insn::Alu64 { op, dst, src } | Insn::Alu32 { op, dst, src } => {
            let wide = matches!(insn, Insn::Alu64 { .. });
            let (a, b) = (st.get(dst), operand(t, st, &src, wide));
            st.regs[dst.key()] = alu_vn(t, mode, i, dst.key(), wide, op, a, b);
        }
        Insn::Sext32 { dst } | Insn::ToBe { dst, .. } => {
            st.regs[dst.key()] = match (mode, insn) {
                (Mode::Copies, _) => fresh(t, dst),
                (_, Insn::ToBe { bits, .. }) => {
                    let a = st.get(dst);
                    t.vn(Expr::ToBe(*bits, a))
                }
                _ => {
                    let a = st.get(dst);
                    t.vn(Expr::Sext32(a))
                }
            }
        }
        Insn::LdImm64 { dst, imm } => st.regs[dst.key()] = t.vn(Expr::Const(imm as u64)),
        Insn::LdMap { dst, .. } => st.regs[dst.key()] = fresh(t, dst),
        Insn::Ldx {
            size,
            dst,
            src,
            off,
        } => {
            st.regs[dst.key()] = match mode {
                Mode::Values => {
                    let (base, mem) = (st.get(src), st.mem);
                    t.vn(Expr::Load {
                        size,
                        base,
                        off,
                        mem,
                    })
                }
                Mode::Copies => {
                    let v = fresh(t, dst);
                    if size == Size::W && src == R::P(Reg::R6) {
                        t.mark_pointer(v);
                    }
                    v
                }
            }
        }
        Insn::St { .. } | Insn::Stx { .. } | Insn::AtomicAdd { .. } | Insn::Call { .. } => {
            st.mem = t.vn(Expr::Fresh(i, MEM));
        }
        Insn::LdAbs { .. } | Insn::LdInd { .. } | Insn::Ja { .. } | Insn::Jmp { .. } => {}
        Insn::Exit => {}
    }
}

/// Joins `new` into the state `old` at instruction `s`; whether `old` changed.
fn meet(t: &mut Table, s: usize, old: &mut State, new: &State) -> bool {
    let mut changed = false;
    for (k, (o, n)) in old.regs.iter_mut().zip(&new.regs).enumerate() {
        if o != n {
            let phi = t.vn(Expr::Phi(s, k));
            if *o != phi {
                *o = phi;
                changed = true;
            }
        }
    }
    if old.mem != new.mem {
        let phi = t.vn(Expr::Phi(s, MEM));
        if old.mem != phi {
            old.mem = phi;
            changed = true;
        }
    }
    let before = old.facts.len();
    old.facts.retain(|f| new.facts.contains(f));
    changed || old.facts.len() != before
}

/// The condition `op` adds on the edge from jump `insn` to `to`, if it is one edge of two.
fn edge_fact(code: &VCode, i: usize, to: usize) -> Option<(JmpOp, bool)> {
    let Insn::Jmp { op, .. } = code.insns[i].insn else {
        return None;
    };
    let target = code.target_index(&code.insns[i].insn)?;
    if target == i + 1 {
        return None;
    }
    Some((op, to == target))
}

/// The instructions in reverse postorder from the first.
fn reverse_postorder(succs: &[Vec<usize>]) -> Vec<usize> {
    let n = succs.len();
    let mut seen = vec![false; n];
    let mut post = Vec::with_capacity(n);
    let mut stack = vec![(0usize, 0usize)];
    seen[0] = true;
    while let Some(&mut (i, ref mut next)) = stack.last_mut() {
        if let Some(&s) = succs[i].get(*next) {
            *next += 1;
            if !seen[s] {
                seen[s] = true;
                stack.push((s, 0));
            }
        } else {
            post.push(i);
            stack.pop();
        }
    }
    post.reverse();
    post
}

/// The states on entry to the basic blocks (`None`: unreachable), from [`analyse`].
struct Flow {
    /// The first instruction of each block, and the code's length last.
    starts: Vec<usize>,
    entry: Vec<Option<State>>,
}

impl Flow {
    /// Calls `f` with the state on entry to every reachable instruction, in code order (`f`
    /// may change it if it puts it back as it was); the
    /// states inside a block are made from its entry state as they are needed, so the
    /// analysis keeps one state per block, not one per instruction (a register vector per
    /// instruction is quadratic in a generated program of thousands of instructions).
    fn each(
        &self,
        code: &VCode,
        t: &mut Table,
        mode: Mode,
        mut f: impl FnMut(&mut Table, usize, &mut State),
    ) {
        for (b, entry) in self.entry.iter().enumerate() {
            let Some(entry) = entry else { continue };
            let mut st = entry.clone();
            for i in self.starts[b]..self.starts[b + 1] {
                f(t, i, &mut st);
                transfer(t, mode, i, &code.insns[i], &mut st);
            }
        }
    }
}

/// The states on entry to every basic block. Rounds in reverse postorder, each walking the
/// blocks whose entry changed, until nothing changes; only where paths meet (more than one
/// predecessor) do registers get numbers of their own, so a few rounds suffice.
fn analyse(code: &VCode, t: &mut Table, mode: Mode) -> Flow {
    let n = code.insns.len();
    let regs = 11 + code.vregs as usize;
    let succs = code.successors();
    let mut preds = vec![0u32; n];
    if n > 0 {
        preds[0] = 1;
    }
    for ss in &succs {
        for &s in ss {
            preds[s] += 1;
        }
    }
    let Blocks { starts, block_of } = code.blocks();
    let blocks = starts.len() - 1;
    let mut entry: Vec<Option<State>> = vec![None; blocks];
    if n == 0 {
        return Flow { starts, entry };
    }
    entry[0] = Some(State {
        regs: (0..regs).map(|k| t.vn(Expr::Entry(k))).collect(),
        mem: t.vn(Expr::Entry(MEM)),
        facts: Vec::new(),
    });
    let order: Vec<usize> = reverse_postorder(&succs)
        .into_iter()
        .filter(|&i| starts[block_of[i]] == i)
        .map(|i| block_of[i])
        .collect();
    // Blocks whose entry state changed since they were last walked.
    let mut dirty = vec![false; blocks];
    dirty[0] = true;
    loop {
        let mut changed = false;
        for &b in &order {
            if !std::mem::take(&mut dirty[b]) {
                continue;
            }
            let Some(mut st) = entry[b].clone() else {
                continue;
            };
            let last = starts[b + 1] - 1;
            for i in starts[b]..last {
                transfer(t, mode, i, &code.insns[i], &mut st);
            }
            let i = last;
            let rec = &code.insns[i];
            let cond = match rec.insn {
                Insn::Jmp { dst, src, .. } if mode == Mode::Copies => {
                    Some((st.get(dst), operand(t, &st, &src, true)))
                }
                _ => None,
            };
            transfer(t, mode, i, rec, &mut st);
            let final_edge = succs[i].len().saturating_sub(1);
            for (e, &s) in succs[i].iter().enumerate() {
                // The last successor takes the state itself, the others a copy.
                let mut out = if e == final_edge {
                    std::mem::replace(
                        &mut st,
                        State {
                            regs: Vec::new(),
                            mem: 0,
                            facts: Vec::new(),
                        },
                    )
                } else {
                    st.clone()
                };
                if let (Some((a, b)), Some((op, taken))) = (cond, edge_fact(code, i, s)) {
                    let op = if taken { Some(op) } else { op.negate() };
                    if let Some(op) = op {
                        if out.facts.len() >= FACTS {
                            out.facts.remove(0);
                        }
                        out.facts.push((op, a, b));
                    }
                }
                let to = block_of[s];
                let now = match &mut entry[to] {
                    None => {
                        entry[to] = Some(out);
                        true
                    }
                    Some(old) if preds[s] > 1 => meet(t, s, old, &out),
                    Some(old) => {
                        let differs = *old != out;
                        *old = out;
                        differs
                    }
                };
                dirty[to] |= now;
                changed |= now;
            }
        }
        if !changed {
            return Flow { starts, entry };
        }
    }
}

/// Whether the value is made of loads and constants only (the loaded bits are what a load of
/// that size gives, whatever its address).
fn contained(t: &Table, v: Vn) -> bool {
    let mut stack = vec![v];
    let mut seen = 0usize;
    while let Some(v) = stack.pop() {
        seen += 1;
        if seen > 64 {
            return false;
        }
        match t.get(v) {
            Expr::Const(_) | Expr::Load { .. } => {}
            Expr::Alu { a, b, .. } => stack.extend([a, b]),
            Expr::Sext32(a) | Expr::ToBe(_, a) => stack.push(a),
            Expr::Entry(_) | Expr::Fresh(..) | Expr::Phi(..) => return false,
        }
    }
    true
}

/// Round 1: computations whose value a virtual register holds become copies of it.
fn reuse(code: &mut VCode) -> bool {
    let mut t = Table::default();
    let flow = analyse(code, &mut t, Mode::Values);
    let mut copies = Vec::new();
    flow.each(code, &mut t, Mode::Values, |t, i, st| {
        let rec = &code.insns[i];
        let dst = match rec.insn {
            Insn::Alu64 { op, dst, .. } | Insn::Alu32 { op, dst, .. }
                if !(op == AluOp::Mov && matches!(rec.insn, Insn::Alu64 { .. })) =>
            {
                dst
            }
            Insn::Sext32 { dst } | Insn::ToBe { dst, .. } | Insn::Ldx { dst, .. } => dst,
            _ => return,
        };
        let R::V(_) = dst else { return };
        if rec.reloc.is_some() {
            return;
        }
        let before = st.get(dst);
        transfer(t, Mode::Values, i, rec, st);
        let value = st.get(dst);
        st.regs[dst.key()] = before;
        if let Expr::Const(_) = t.get(value) {
            // The facts pass folds constants; an immediate beats a register.
            return;
        }
        // The verifier knows of a register what branches taught it since it was computed; a
        // value computed again from registers that a branch refined in between (`if i < 5`
        // and then `i * 2`) is known better than an older copy of it. Only values made of
        // loads and constants, which every computation knows alike, are taken from a holder.
        if !contained(t, value) {
            return;
        }
        let holder = (11..st.regs.len()).find(|&k| k != dst.key() && st.regs[k] == value);
        if let Some(h) = holder {
            copies.push((i, dst, h));
        }
    });
    // A copy leaves the same numbers as the computation it replaces, so the states the walk
    // saw hold for the code with the copies too.
    let changed = !copies.is_empty();
    for (i, dst, h) in copies {
        let line = code.insns[i].line;
        code.insns[i] = Rec::new(
            Insn::Alu64 {
                op: AluOp::Mov,
                dst,
                src: Src::Reg(R::V(super::code::VReg((h - 11) as u32))),
            },
            line,
        );
    }
    changed
}

/// Outcomes of a condition over the unsigned (`false`) or signed (`true`) order, as a set of
/// {less, equal, greater}; `None` when the condition is not of that order.
fn outcomes(op: JmpOp, signed: bool) -> Option<u8> {
    const LT: u8 = 1;
    const EQ: u8 = 2;
    const GT: u8 = 4;
    match (op, signed) {
        (JmpOp::Jeq, _) => Some(EQ),
        (JmpOp::Jne, _) => Some(LT | GT),
        (JmpOp::Jgt, false) | (JmpOp::Jsgt, true) => Some(GT),
        (JmpOp::Jge, false) | (JmpOp::Jsge, true) => Some(GT | EQ),
        (JmpOp::Jlt, false) | (JmpOp::Jslt, true) => Some(LT),
        (JmpOp::Jle, false) | (JmpOp::Jsle, true) => Some(LT | EQ),
        _ => None,
    }
}

/// Whether `a op b` holds when `a known b` does (`None`: not decided).
fn implied(known: JmpOp, op: JmpOp) -> Option<bool> {
    if known == op {
        return Some(true);
    }
    for signed in [false, true] {
        if let (Some(k), Some(o)) = (outcomes(known, signed), outcomes(op, signed)) {
            if k & !o == 0 {
                return Some(true);
            }
            if k & o == 0 {
                return Some(false);
            }
        }
    }
    None
}

/// `p + k` as (p, k) (k = 0 when `v` is not a constant offset).
fn offset(t: &Table, v: Vn) -> (Vn, i64) {
    if let Expr::Alu {
        wide: true,
        op: AluOp::Add,
        a,
        b,
    } = t.get(v)
    {
        if let Expr::Const(k) = t.get(b) {
            return (a, k as i64);
        }
    }
    (v, 0)
}

/// Whether `v` was loaded from the context as 32 bits (`data`, `data_end` and the other
/// fields of `__sk_buff` and `xdp_md`): a value (and a kernel address) that adding a small
/// offset does not wrap.
fn context_word(code: &VCode, t: &Table, v: Vn) -> bool {
    match t.get(v) {
        Expr::Fresh(i, _) => matches!(
            code.insns.get(i).map(|r| r.insn),
            Some(Insn::Ldx {
                size: Size::W,
                src: R::P(Reg::R6),
                ..
            })
        ),
        _ => false,
    }
}

/// Round 2: conditional jumps decided by the conditions on the way.
fn decide(code: &mut VCode) -> bool {
    let mut t = Table::default();
    let flow = analyse(code, &mut t, Mode::Copies);
    // The known bits, for bounds checks of a smaller end, only when there is one to look at.
    let mut widths: Option<facts::Facts> = None;
    let mut verdicts = Vec::new();
    flow.each(code, &mut t, Mode::Copies, |t, i, st| {
        let Insn::Jmp {
            op,
            dst,
            src,
            target,
        } = code.insns[i].insn
        else {
            return;
        };
        let (a, b) = (st.get(dst), operand(t, st, &src, true));
        let mut verdict = None;
        for &(known, x, y) in st.facts.iter().rev() {
            verdict = if (x, y) == (a, b) {
                implied(known, op)
            } else if (x, y) == (b, a) {
                known.swap().and_then(|k| implied(k, op))
            } else {
                None
            };
            if verdict.is_some() {
                break;
            }
            // A packet bounds check of a smaller end: `p + k <= end` is known, and `p + k'`
            // with 0 <= k' <= k is below 2^62, so neither or both of the sums wrapped.
            let (pa, ka) = offset(t, a);
            let (px, kx) = offset(t, x);
            if op == JmpOp::Jgt
                && known == JmpOp::Jle
                && y == b
                && pa == px
                && (0..=kx).contains(&ka)
                && kx < 1 << 30
                && context_word(code, t, b)
                && widths
                    .get_or_insert_with(|| facts::analyse(code, true))
                    .at(code, i)
                    .is_some_and(|w| w[dst.key()].width() <= 62)
            {
                verdict = Some(false);
                break;
            }
        }
        if let Some(v) = verdict {
            verdicts.push((i, v, target));
        }
    });
    let mut keep = vec![true; code.insns.len()];
    let changed = !verdicts.is_empty();
    for (i, always, target) in verdicts {
        if always {
            code.insns[i].insn = Insn::Ja { target };
        } else {
            keep[i] = false;
        }
    }
    code.retain(&keep);
    changed
}

/// Runs the pass in place.
pub fn run(code: &mut VCode) {
    reuse(code);
    decide(code);
}
