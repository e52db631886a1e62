//! Stage 5: virtual registers → physical registers or stack slots (linear scan on live
//! intervals from a liveness analysis).
//!
//! The helper ABI (Documentation/bpf/standardization/abi.rst): R1–R5 carry arguments and are
//! clobbered by calls (and by LD_ABS/LD_IND), R0 holds results, R6–R9 are preserved, R10 is the
//! read-only frame pointer. ljbpf keeps the context in R6 (LD_ABS reads it there) and uses R0 and
//! R1 as scratch for spilled values, so virtual registers get R7–R9 anywhere and R2–R5 where no
//! call, packet load or argument set-up overlaps them.

use crate::ir::{Code, R};

use super::insn::{AluOp, Insn, Reg, Size, Src};

/// Code over physical registers, labels still symbolic.
#[derive(Clone, Debug)]
pub struct Allocated {
    /// Instructions and their Lua lines.
    pub insns: Vec<(Insn<Reg>, u32)>,
    /// Label → instruction index.
    pub labels: Vec<Option<usize>>,
    /// Stack bytes including spill slots.
    pub stack_bytes: u32,
}

/// Where a virtual register lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Home {
    Reg(Reg),
    /// Stack slot at `r10 - off`.
    Spill(i16),
}

fn uses_defs(insn: &Insn<R>) -> (Vec<R>, Vec<R>) {
    let src = |s: &Src<R>| match s {
        Src::Reg(r) => vec![*r],
        Src::Imm(_) => vec![],
    };
    match insn {
        Insn::Alu64 {
            op: AluOp::Mov,
            dst,
            src: s,
        }
        | Insn::Alu32 {
            op: AluOp::Mov,
            dst,
            src: s,
        } => (src(s), vec![*dst]),
        Insn::Alu64 { dst, src: s, .. } | Insn::Alu32 { dst, src: s, .. } => {
            let mut u = src(s);
            u.push(*dst);
            (u, vec![*dst])
        }
        Insn::Sext32 { dst } | Insn::ToBe { dst, .. } => (vec![*dst], vec![*dst]),
        Insn::LdImm64 { dst, .. } | Insn::LdMap { dst, .. } => (vec![], vec![*dst]),
        Insn::Ldx { dst, src, .. } => (vec![*src], vec![*dst]),
        Insn::St { dst, .. } => (vec![*dst], vec![]),
        Insn::Stx { dst, src, .. } | Insn::AtomicAdd { dst, src, .. } => (vec![*dst, *src], vec![]),
        Insn::LdAbs { .. } => (vec![R::P(Reg::R6)], vec![R::P(Reg::R0)]),
        Insn::LdInd { src, .. } => (vec![*src, R::P(Reg::R6)], vec![R::P(Reg::R0)]),
        Insn::Ja { .. } => (vec![], vec![]),
        Insn::Jmp { dst, src: s, .. } => {
            let mut u = src(s);
            u.push(*dst);
            (u, vec![])
        }
        Insn::Call { helper } => (
            (1..=helper.args()).map(|i| R::P(Reg(i))).collect(),
            vec![R::P(Reg::R0)],
        ),
        Insn::Exit => (vec![R::P(Reg::R0)], vec![]),
    }
}

/// Whether the instruction clobbers R0–R5.
fn clobbers(insn: &Insn<R>) -> bool {
    matches!(
        insn,
        Insn::Call { .. } | Insn::LdAbs { .. } | Insn::LdInd { .. }
    )
}

fn vregs(rs: &[R]) -> impl Iterator<Item = usize> + '_ {
    rs.iter().filter_map(|r| match r {
        R::V(v) => Some(v.0 as usize),
        R::P(_) => None,
    })
}

struct Bits(Vec<u64>);

impl Bits {
    fn new(n: usize) -> Bits {
        Bits(vec![0; n.div_ceil(64)])
    }
    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    fn clear(&mut self, i: usize) {
        self.0[i / 64] &= !(1 << (i % 64));
    }
    fn get(&self, i: usize) -> bool {
        self.0[i / 64] & (1 << (i % 64)) != 0
    }
    fn union(&mut self, o: &Bits) -> bool {
        let mut changed = false;
        for (a, b) in self.0.iter_mut().zip(&o.0) {
            let n = *a | *b;
            changed |= n != *a;
            *a = n;
        }
        changed
    }
}

/// Whether removing the instruction is safe when nothing reads what it defines.
fn is_pure(insn: &Insn<R>) -> bool {
    matches!(
        insn,
        Insn::Alu64 { .. }
            | Insn::Alu32 { .. }
            | Insn::Sext32 { .. }
            | Insn::ToBe { .. }
            | Insn::LdImm64 { .. }
            | Insn::Ldx { .. }
    )
}

/// Removes instructions whose results are never read (moves into a slot's register on an
/// edge where the slot is dead, results of calls nobody uses), until none is left.
fn eliminate_dead(code: &Code) -> Code {
    let mut code = code.clone();
    loop {
        let live_out = liveness(&code).1;
        let mut keep = vec![true; code.insns.len()];
        let mut removed = false;
        for (i, (insn, _)) in code.insns.iter().enumerate() {
            if !is_pure(insn) {
                continue;
            }
            let (_, defs) = uses_defs(insn);
            let dead = defs.iter().all(|d| match d {
                R::V(v) => !live_out[i].get(v.0 as usize),
                R::P(_) => false,
            });
            if dead {
                keep[i] = false;
                removed = true;
            }
        }
        if !removed {
            return code;
        }
        super::retain_insns(&mut code.insns, &mut code.labels, &keep);
    }
}

/// Successors of every instruction.
fn successors(code: &Code) -> Vec<Vec<usize>> {
    let n = code.insns.len();
    code.insns
        .iter()
        .enumerate()
        .map(|(i, (insn, _))| {
            let mut s = Vec::new();
            if !insn.is_terminator() && i + 1 < n {
                s.push(i + 1);
            }
            if let Some(t) = insn
                .target()
                .and_then(|l| code.labels.get(l.0 as usize).copied().flatten())
            {
                if t < n {
                    s.push(t);
                }
            }
            s
        })
        .collect()
}

/// Live-in and live-out sets of virtual registers per instruction (backward dataflow).
fn liveness(code: &Code) -> (Vec<Bits>, Vec<Bits>) {
    let n = code.insns.len();
    let nv = code.vregs as usize;
    let succs = successors(code);
    let ud: Vec<(Vec<R>, Vec<R>)> = code.insns.iter().map(|(i, _)| uses_defs(i)).collect();
    let mut live_in: Vec<Bits> = (0..n).map(|_| Bits::new(nv)).collect();
    let mut live_out: Vec<Bits> = (0..n).map(|_| Bits::new(nv)).collect();
    let mut changed = true;
    while changed {
        changed = false;
        for i in (0..n).rev() {
            let mut out = Bits::new(nv);
            for &s in &succs[i] {
                out.union(&live_in[s]);
            }
            let mut inn = Bits(out.0.clone());
            for d in vregs(&ud[i].1) {
                inn.clear(d);
            }
            for u in vregs(&ud[i].0) {
                inn.set(u);
            }
            changed |= live_in[i].union(&inn);
            live_out[i] = out;
        }
    }
    (live_in, live_out)
}

/// Allocates registers. `stack_base` is the stack already used by objects and call buffers.
pub fn allocate(code: &Code, stack_base: u32) -> Allocated {
    let code = &eliminate_dead(code);
    let n = code.insns.len();
    let nv = code.vregs as usize;
    let ud: Vec<(Vec<R>, Vec<R>)> = code.insns.iter().map(|(i, _)| uses_defs(i)).collect();
    let (live_in, live_out) = liveness(code);

    // Intervals and constraints.
    let mut start = vec![usize::MAX; nv];
    let mut end = vec![0usize; nv];
    let mut crosses = vec![false; nv];
    let touch = |v: usize, i: usize, start: &mut Vec<usize>, end: &mut Vec<usize>| {
        start[v] = start[v].min(i);
        end[v] = end[v].max(i);
    };
    for i in 0..n {
        for v in 0..nv {
            if live_in[i].get(v) || live_out[i].get(v) {
                touch(v, i, &mut start, &mut end);
            }
        }
        for v in vregs(&ud[i].1) {
            touch(v, i, &mut start, &mut end);
        }
        if clobbers(&code.insns[i].0) {
            let defs: Vec<usize> = vregs(&ud[i].1).collect();
            for (v, c) in crosses.iter_mut().enumerate() {
                if live_out[i].get(v) && !defs.contains(&v) {
                    *c = true;
                }
            }
        }
    }
    // Instructions that name R2..R5 physically.
    let phys_at: Vec<Vec<u8>> = ud
        .iter()
        .map(|(u, d)| {
            u.iter()
                .chain(d.iter())
                .filter_map(|r| match r {
                    R::P(Reg(k)) if (2..=5).contains(k) => Some(*k),
                    _ => None,
                })
                .collect()
        })
        .collect();

    let mut order: Vec<usize> = (0..nv).filter(|&v| start[v] != usize::MAX).collect();
    order.sort_by_key(|&v| (start[v], v));
    let mut home: Vec<Option<Home>> = vec![None; nv];
    let mut active: Vec<usize> = Vec::new();
    let mut spill_top = stack_base;
    let spill = |spill_top: &mut u32| {
        *spill_top += 8;
        Home::Spill(*spill_top as i16)
    };
    let fits = |v: usize, r: Reg| -> bool {
        match r.0 {
            7..=9 => true,
            2..=5 => !crosses[v] && (start[v]..=end[v]).all(|i| !phys_at[i].contains(&r.0)),
            _ => false,
        }
    };
    // Copy hints: `v = x` where x dies at that move lets v take x's register (the move then
    // disappears in `rewrite`).
    let mut hint: Vec<Option<usize>> = vec![None; nv];
    for (i, (insn, _)) in code.insns.iter().enumerate() {
        if let Insn::Alu64 {
            op: AluOp::Mov,
            dst: R::V(d),
            src: Src::Reg(R::V(x)),
        } = insn
        {
            if end[x.0 as usize] == i && start[d.0 as usize] == i {
                hint[d.0 as usize] = Some(x.0 as usize);
            }
        }
    }
    let candidates = [Reg(2), Reg(3), Reg(4), Reg(5), Reg::R7, Reg::R8, Reg::R9];
    for &v in &order {
        active.retain(|&a| end[a] >= start[v]);
        if let Some(x) = hint[v] {
            if let Some(Home::Reg(r)) = home[x] {
                let others_busy = active
                    .iter()
                    .any(|&a| a != x && home[a] == Some(Home::Reg(r)));
                if active.contains(&x) && !others_busy && fits(v, r) {
                    home[v] = Some(Home::Reg(r));
                    active.retain(|&a| a != x);
                    active.push(v);
                    continue;
                }
            }
        }
        let busy: Vec<Reg> = active
            .iter()
            .filter_map(|&a| match home[a] {
                Some(Home::Reg(r)) => Some(r),
                _ => None,
            })
            .collect();
        let free = candidates
            .iter()
            .copied()
            .find(|r| !busy.contains(r) && fits(v, *r));
        match free {
            Some(r) => {
                home[v] = Some(Home::Reg(r));
                active.push(v);
            }
            None => {
                // Evict the active interval that ends last if it ends after this one and its
                // register suits this one.
                let victim = active
                    .iter()
                    .copied()
                    .filter(|&a| matches!(home[a], Some(Home::Reg(r)) if fits(v, r)))
                    .max_by_key(|&a| end[a]);
                match victim {
                    Some(a) if end[a] > end[v] => {
                        home[v] = home[a];
                        home[a] = Some(spill(&mut spill_top));
                        active.retain(|&x| x != a);
                        active.push(v);
                    }
                    _ => home[v] = Some(spill(&mut spill_top)),
                }
            }
        }
    }

    rewrite(code, &home, spill_top)
}

fn rewrite(code: &Code, home: &[Option<Home>], stack_bytes: u32) -> Allocated {
    let mut out: Vec<(Insn<Reg>, u32)> = Vec::new();
    // The whole frame is written at entry, so it exists on every path: Linux 6.18's verifier
    // otherwise reported an internal "verifier bug: stack slot N, total slots M" for a slot
    // first written on one branch and used after the join (found by difftest).
    let entry_line = code.insns.first().map_or(0, |(_, l)| *l);
    for off in (8..=stack_bytes).step_by(8) {
        out.push((
            Insn::St {
                size: Size::DW,
                dst: Reg::R10,
                off: -(off as i16),
                imm: 0,
            },
            entry_line,
        ));
    }
    let mut new_index = vec![0usize; code.insns.len() + 1];
    let h = |r: R| -> Result<Reg, i16> {
        match r {
            R::P(p) => Ok(p),
            R::V(v) => match home.get(v.0 as usize).copied().flatten() {
                Some(Home::Reg(p)) => Ok(p),
                Some(Home::Spill(o)) => Err(o),
                None => Ok(Reg::R0), // never live: any register will do
            },
        }
    };
    for (i, (insn, line)) in code.insns.iter().enumerate() {
        new_index[i] = out.len();
        let line = *line;
        let mut push = |x: Insn<Reg>| out.push((x, line));
        // Moves between a register and a spill slot become a single load or store.
        if let Insn::Alu64 {
            op: AluOp::Mov,
            dst,
            src: Src::Reg(s),
        } = insn
        {
            match (h(*dst), h(*s)) {
                (Err(d), Ok(s)) => {
                    push(Insn::Stx {
                        size: Size::DW,
                        dst: Reg::R10,
                        src: s,
                        off: -d,
                    });
                    continue;
                }
                (Ok(d), Err(s)) => {
                    push(Insn::Ldx {
                        size: Size::DW,
                        dst: d,
                        src: Reg::R10,
                        off: -s,
                    });
                    continue;
                }
                (Ok(d), Ok(s)) if d == s => continue,
                _ => {}
            }
        }
        if let Insn::Alu64 {
            op: AluOp::Mov,
            dst,
            src: Src::Imm(k),
        } = insn
        {
            if let Err(d) = h(*dst) {
                push(Insn::St {
                    size: Size::DW,
                    dst: Reg::R10,
                    off: -d,
                    imm: *k,
                });
                continue;
            }
        }
        // General case: spilled operands go through scratch registers not named by the insn.
        let (uses, defs) = uses_defs(insn);
        let named: Vec<Reg> = uses
            .iter()
            .chain(defs.iter())
            .filter_map(|r| match r {
                R::P(p) => Some(*p),
                R::V(_) => None,
            })
            .collect();
        let mut scratch = [Reg::R0, Reg::R1, Reg(2), Reg(3)]
            .into_iter()
            .filter(|r| !named.contains(r));
        let mut assigned: Vec<(R, Reg, i16)> = Vec::new();
        for r in uses.iter().chain(defs.iter()) {
            if let (R::V(_), Err(off)) = (r, h(*r)) {
                if !assigned.iter().any(|(x, _, _)| x == r) {
                    let s = scratch.next().unwrap_or(Reg::R0);
                    assigned.push((*r, s, off));
                }
            }
        }
        for (r, s, off) in &assigned {
            if uses.contains(r) {
                push(Insn::Ldx {
                    size: Size::DW,
                    dst: *s,
                    src: Reg::R10,
                    off: -off,
                });
            }
        }
        let mapped = insn.map_regs(|r| match h(r) {
            Ok(p) => p,
            Err(_) => assigned
                .iter()
                .find(|(x, _, _)| *x == r)
                .map_or(Reg::R0, |(_, s, _)| *s),
        });
        push(mapped);
        for (r, s, off) in &assigned {
            if defs.contains(r) {
                push(Insn::Stx {
                    size: Size::DW,
                    dst: Reg::R10,
                    src: *s,
                    off: -off,
                });
            }
        }
    }
    new_index[code.insns.len()] = out.len();
    let labels = code
        .labels
        .iter()
        .map(|l| l.map(|i| new_index[i]))
        .collect();
    Allocated {
        insns: out,
        labels,
        stack_bytes,
    }
}
