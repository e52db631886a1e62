//! Register allocation: virtual → physical registers or stack slots (linear scan on live
//! intervals from a liveness analysis).
//!
//! The helper ABI (Documentation/bpf/standardization/abi.rst): R1–R5 carry arguments and are
//! clobbered by calls (and by LD_ABS/LD_IND), R0 holds results, R6–R9 are preserved, R10 is the
//! read-only frame pointer. ljbpf keeps the context in R6 (LD_ABS reads it there) and uses R0 and
//! R1 as scratch for spilled values, so virtual registers get R7–R9 anywhere and R2–R5 where no
//! call, packet load or argument set-up overlaps them.

use ljbpf_core::insn::{AluOp, Insn, Reg, Size, Src};

use super::code::{clobbers, uses_defs, PCode, Rec, VCode, R};
use super::liveness::{liveness, vregs};

/// Allocated code and where each instruction came from, for the allocation checker.
#[derive(Clone, Debug)]
pub struct Allocated {
    /// Code over physical registers (stack bytes include spill slots).
    pub code: PCode,
    /// For each instruction: the index of the virtual-code instruction it carries out, or
    /// `None` for the reloads and spills around it.
    pub main: Vec<Option<usize>>,
    /// Moves that vanished because both sides got the same register: (position in `code`,
    /// index of the virtual-code move). They happen just before the instruction at that position.
    pub elided: Vec<(usize, usize)>,
}

/// An allocation failure: a compiler bug, reported with the Lua line.
#[derive(Clone, Debug)]
pub struct AllocError {
    /// The Lua line of the instruction.
    pub line: u32,
    /// What went wrong.
    pub message: String,
}

/// Where a virtual register lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Home {
    Reg(Reg),
    /// Stack slot at `r10 - off`.
    Spill(i16),
}

/// Allocates registers; `code.stack_bytes` is the stack already used by objects and call
/// buffers.
pub fn run(code: &VCode) -> Result<Allocated, AllocError> {
    let stack_base = code.stack_bytes;
    let n = code.insns.len();
    let nv = code.vregs as usize;
    let ud: Vec<(Vec<R>, Vec<R>)> = code.insns.iter().map(|r| uses_defs(&r.insn)).collect();
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
        if clobbers(&code.insns[i].insn) {
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
    for (i, rec) in code.insns.iter().enumerate() {
        if let Insn::Alu64 {
            op: AluOp::Mov,
            dst: R::V(d),
            src: Src::Reg(R::V(x)),
        } = rec.insn
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

fn rewrite(code: &VCode, home: &[Option<Home>], stack_bytes: u32) -> Result<Allocated, AllocError> {
    let mut out = Allocated {
        code: PCode {
            insns: Vec::new(),
            labels: Vec::new(),
            vregs: 0,
            stack_bytes,
        },
        main: Vec::new(),
        elided: Vec::new(),
    };
    let mut new_index = vec![0usize; code.insns.len() + 1];
    let h = |r: R| -> Option<Result<Reg, i16>> {
        match r {
            R::P(p) => Some(Ok(p)),
            R::V(v) => match home.get(v.0 as usize).copied().flatten()? {
                Home::Reg(p) => Some(Ok(p)),
                Home::Spill(o) => Some(Err(o)),
            },
        }
    };
    for (i, rec) in code.insns.iter().enumerate() {
        new_index[i] = out.code.insns.len();
        let line = rec.line;
        let fail = |what: String| AllocError {
            line,
            message: format!("internal error: register allocation: {what}"),
        };
        let insn = &rec.insn;
        let push = |x: Insn<Reg>, main: bool, out: &mut Allocated| {
            out.code.insns.push(Rec {
                insn: x,
                line,
                reloc: if main { rec.reloc.clone() } else { None },
            });
            out.main.push(main.then_some(i));
        };
        let (uses, defs) = uses_defs(insn);
        // A register defined here that is never read has no home; it is written to R0, which
        // every instruction that defines a value may clobber.
        let home_of = |r: R| -> Result<Result<Reg, i16>, AllocError> {
            match h(r) {
                Some(x) => Ok(x),
                None if defs.contains(&r) && !uses.contains(&r) => Ok(Ok(Reg::R0)),
                None => Err(fail(format!("{r} is read but has no register"))),
            }
        };
        // Moves between a register and a spill slot become a single load or store.
        if let Insn::Alu64 {
            op: AluOp::Mov,
            dst,
            src: Src::Reg(s),
        } = insn
        {
            match (home_of(*dst)?, home_of(*s)?) {
                (Err(d), Ok(s)) => {
                    let st = Insn::Stx {
                        size: Size::DW,
                        dst: Reg::R10,
                        src: s,
                        off: -d,
                    };
                    push(st, true, &mut out);
                    continue;
                }
                (Ok(d), Err(s)) => {
                    let ld = Insn::Ldx {
                        size: Size::DW,
                        dst: d,
                        src: Reg::R10,
                        off: -s,
                    };
                    push(ld, true, &mut out);
                    continue;
                }
                (Ok(d), Ok(s)) if d == s => {
                    out.elided.push((out.code.insns.len(), i));
                    continue;
                }
                _ => {}
            }
        }
        if let Insn::Alu64 {
            op: AluOp::Mov,
            dst,
            src: Src::Imm(k),
        } = insn
        {
            if let Err(d) = home_of(*dst)? {
                let st = Insn::St {
                    size: Size::DW,
                    dst: Reg::R10,
                    off: -d,
                    imm: *k,
                };
                push(st, true, &mut out);
                continue;
            }
        }
        // General case: spilled operands go through scratch registers not named by the insn.
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
            if let (R::V(_), Err(off)) = (r, home_of(*r)?) {
                if !assigned.iter().any(|(x, _, _)| x == r) {
                    let s = scratch
                        .next()
                        .ok_or_else(|| fail(format!("no scratch register left for {r}")))?;
                    assigned.push((*r, s, off));
                }
            }
        }
        for (r, s, off) in &assigned {
            if uses.contains(r) {
                let ld = Insn::Ldx {
                    size: Size::DW,
                    dst: *s,
                    src: Reg::R10,
                    off: -off,
                };
                push(ld, false, &mut out);
            }
        }
        let mut missing = None;
        let mapped = insn.map_regs(|r| match home_of(r) {
            Ok(Ok(p)) => p,
            Ok(Err(_)) => match assigned.iter().find(|(x, _, _)| *x == r) {
                Some((_, s, _)) => *s,
                None => {
                    missing = Some(r);
                    Reg::R0
                }
            },
            Err(_) => {
                missing = Some(r);
                Reg::R0
            }
        });
        if let Some(r) = missing {
            return Err(fail(format!("{r} has no register")));
        }
        push(mapped, true, &mut out);
        for (r, s, off) in &assigned {
            if defs.contains(r) {
                let st = Insn::Stx {
                    size: Size::DW,
                    dst: Reg::R10,
                    src: *s,
                    off: -off,
                };
                push(st, false, &mut out);
            }
        }
    }
    new_index[code.insns.len()] = out.code.insns.len();
    out.code.labels = code
        .labels
        .iter()
        .map(|l| l.map(|i| new_index[i]))
        .collect();
    Ok(out)
}
