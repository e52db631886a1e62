//! Register allocation: virtual → physical registers or stack slots, by colouring an
//! interference graph (Chaitin–Briggs) with copy coalescing.
//!
//! The helper ABI (Documentation/bpf/standardization/abi.rst): R1–R5 carry arguments and are
//! clobbered by calls (and by LD_ABS/LD_IND), R0 holds results, R6–R9 are preserved, R10 is the
//! read-only frame pointer. ljbpf keeps the context in R6 (LD_ABS reads it there) and uses R1
//! (and whichever of R0 and R2–R5 hold nothing there) as scratch for spilled values, so virtual
//! registers get R7–R9 anywhere and R0 and R2–R5 where no call, packet load or pinned argument
//! overlaps them.
//!
//! Steps:
//! 1. interference: a register defined at an instruction interferes with every register live
//!    after it, except the source of a move (the two hold the same value there); physical
//!    registers live there (helper arguments being set up, R0 after a packet load) and those a
//!    call clobbers become registers it may not take;
//! 2. coalescing: the two sides of a virtual-to-virtual move become one register when they do
//!    not interfere and the merged register stays colourable (Briggs's test: fewer than K
//!    neighbours of degree K or more), moves in deeper loops first; lowering's copies at joins
//!    and loop edges (`lower/join.rs`, `lower/edges.rs`) mostly vanish here;
//! 3. colouring: simplify (remove registers with fewer neighbours than registers they may take,
//!    else the cheapest to spill, optimistically), then select in reverse, preferring the
//!    register of a move partner (also a pinned one such as R2 for a helper argument) so that
//!    moves the coalescer could not merge still often disappear;
//! 4. what gets no colour lives in a stack slot, shared by spilled registers that do not
//!    interfere.

use ljbpf_core::insn::{AluOp, Insn, Reg, Size, Src};

use super::code::{clobbers, uses_defs, PCode, Rec, VCode, R};
use super::liveness::{liveness, physical_live_out, Bits};

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

/// The registers a virtual register may get, in order of preference: caller-saved first (they
/// cost nothing across code without calls), then the callee-saved ones that survive calls.
/// R0 comes last: it is free only between a packet load or call and the next one, and a value
/// that a packet load or call leaves there is coloured with it through its move.
const CANDIDATES: [Reg; 8] = [
    Reg(2),
    Reg(3),
    Reg(4),
    Reg(5),
    Reg::R7,
    Reg::R8,
    Reg::R9,
    Reg::R0,
];

/// The candidate registers as a mask (bit r = register r).
const CANDIDATE_MASK: u16 = 0b11_1011_1101;

/// A move `dst = src` between two registers, at loop depth `depth`.
#[derive(Clone, Copy)]
struct Move {
    dst: R,
    src: R,
    depth: u32,
}

/// The interference graph over virtual registers, merged by coalescing.
struct Graph {
    /// Neighbours of each class representative.
    adj: Vec<Bits>,
    /// Registers each class may not take (bit r = register r).
    forbid: Vec<u16>,
    /// Union-find parent: a class is named by its root.
    parent: Vec<usize>,
    /// Spill cost of each class: its reads and writes, weighted by loop depth.
    cost: Vec<u64>,
    /// Virtual registers that occur in the code.
    present: Vec<bool>,
    /// Whether George's test may coalesce too (more moves merged, sometimes more spills).
    george: bool,
}

impl Graph {
    fn find(&self, mut v: usize) -> usize {
        while self.parent[v] != v {
            v = self.parent[v];
        }
        v
    }

    fn edge(&mut self, a: usize, b: usize) {
        if a != b {
            self.adj[a].set(b);
            self.adj[b].set(a);
        }
    }

    /// Registers class `v` may take.
    fn allowed(&self, v: usize) -> u16 {
        CANDIDATE_MASK & !self.forbid[v]
    }

    /// Merges class `b` into class `a`.
    fn merge(&mut self, a: usize, b: usize) {
        let nb: Vec<usize> = self.adj[b].iter().collect();
        for x in nb {
            self.adj[x].clear(b);
            self.edge(a, x);
        }
        self.adj[b] = Bits::new(self.parent.len());
        self.parent[b] = a;
        self.forbid[a] |= self.forbid[b];
        self.cost[a] += self.cost[b];
    }

    /// Whether `x` has as many neighbours as registers it may take (it may not get one).
    fn significant(&self, x: usize) -> bool {
        self.adj[x].count() >= self.allowed(x).count_ones() as usize
    }

    /// Whether merging `a` and `b` keeps the graph as colourable as it was: Briggs's test
    /// (the merged class has fewer than K neighbours that are significant) or George's (every
    /// significant neighbour of one already interferes with the other).
    fn conservative(&self, a: usize, b: usize) -> bool {
        let k = (self.allowed(a) & self.allowed(b)).count_ones() as usize;
        if k == 0 {
            return false;
        }
        let mut both = self.adj[a].clone();
        both.union(&self.adj[b]);
        let briggs = both
            .iter()
            .filter(|&x| x != a && x != b && self.significant(x))
            .count()
            < k;
        let george = |from: usize, into: usize| {
            self.allowed(into) & !self.allowed(from) == 0
                && self.adj[from]
                    .iter()
                    .all(|t| t == into || self.adj[into].get(t) || !self.significant(t))
        };
        briggs || (self.george && (george(a, b) || george(b, a)))
    }
}

fn build(code: &VCode, ud: &[(Vec<R>, Vec<R>)], depth: &[u32]) -> (Graph, Vec<Move>) {
    let nv = code.vregs as usize;
    let live_out = liveness(code).1;
    let phys_out = physical_live_out(code);
    let mut g = Graph {
        adj: (0..nv).map(|_| Bits::new(nv)).collect(),
        forbid: vec![0; nv],
        parent: (0..nv).collect(),
        cost: vec![0; nv],
        present: vec![false; nv],
        george: false,
    };
    let mut moves = Vec::new();
    for (i, rec) in code.insns.iter().enumerate() {
        let weight = 10u64.saturating_pow(depth[i].min(6));
        let (uses, defs) = &ud[i];
        let mov_src = match rec.insn {
            Insn::Alu64 {
                op: AluOp::Mov,
                dst,
                src: Src::Reg(src),
            } => {
                moves.push(Move {
                    dst,
                    src,
                    depth: depth[i],
                });
                Some(src)
            }
            _ => None,
        };
        let mut written: Vec<R> = defs.clone();
        if clobbers(&rec.insn) {
            written.extend((0..=5).map(|r| R::P(Reg(r))));
        }
        for r in uses.iter().chain(defs.iter()) {
            if let R::V(v) = r {
                g.present[v.0 as usize] = true;
                g.cost[v.0 as usize] += weight;
            }
        }
        let src_bit = match mov_src {
            Some(R::P(p)) => 1u16 << p.0,
            _ => 0,
        };
        for d in written {
            let live: Vec<usize> = live_out[i]
                .iter()
                .filter(|&l| mov_src != Some(R::V(super::code::VReg(l as u32))))
                .collect();
            match d {
                R::V(dv) => {
                    let dv = dv.0 as usize;
                    for l in live {
                        g.edge(dv, l);
                    }
                    g.forbid[dv] |= phys_out[i] & !src_bit;
                }
                R::P(p) => {
                    for l in live {
                        g.forbid[l] |= 1 << p.0;
                    }
                }
            }
        }
    }
    (g, moves)
}

/// Allocates registers; `code.stack_bytes` is the stack already used by objects and call
/// buffers.
pub fn run(code: &VCode) -> Result<Allocated, AllocError> {
    // Coalescing more is not always better: where it makes the colouring spill, the allocation
    // with Briggs's test alone wins. Both are cheap for programs of BPF's size.
    let aggressive = allocate(code, true);
    let careful = allocate(code, false);
    let size = |a: &Allocated| (a.code.insns.len(), a.code.stack_bytes);
    match (aggressive, careful) {
        (Ok(a), Ok(c)) if size(&c) < size(&a) => Ok(c),
        (Ok(a), _) => Ok(a),
        (Err(_), c) => c,
    }
}

/// One allocation; `george`: whether George's test may coalesce too.
fn allocate(code: &VCode, george: bool) -> Result<Allocated, AllocError> {
    let nv = code.vregs as usize;
    let ud: Vec<(Vec<R>, Vec<R>)> = code.insns.iter().map(|r| uses_defs(&r.insn)).collect();
    let depth = code.loop_depth();
    let (live_in, live_out) = liveness(code);
    // Spill code needs scratch registers where a spilled value is read or written. When the
    // colouring left none free there, colour again with R0 (then R0 and R2-R5) kept free of
    // values live at those instructions.
    let mut extra = vec![0u16; nv];
    let mut attempt = 0;
    loop {
        let home = colour(code, &ud, &depth, &extra, george);
        let touched: Vec<usize> = (0..code.insns.len())
            .filter(|&i| {
                let (u, d) = &ud[i];
                u.iter().chain(d).any(|r| match r {
                    R::V(v) => matches!(home.0[v.0 as usize], Some(Home::Spill(_))),
                    R::P(_) => false,
                })
            })
            .collect();
        match allocated(code, &home.0, home.1, &live_in, &live_out) {
            Err(_) if attempt < 2 && !touched.is_empty() => {
                let keep_free: u16 = if attempt == 0 { 0b1 } else { 0b11_1101 };
                for &i in &touched {
                    for v in live_in[i].iter().chain(live_out[i].iter()) {
                        extra[v] |= keep_free;
                    }
                }
                attempt += 1;
            }
            result => return result,
        }
    }
}

/// Homes of the virtual registers and the stack bytes they take, for an allocation where
/// virtual register `v` may also not take the registers in `extra[v]`.
fn colour(
    code: &VCode,
    ud: &[(Vec<R>, Vec<R>)],
    depth: &[u32],
    extra: &[u16],
    george: bool,
) -> (Vec<Option<Home>>, u32) {
    let nv = code.vregs as usize;
    let (mut g, mut moves) = build(code, ud, depth);
    g.george = george;
    for (f, x) in g.forbid.iter_mut().zip(extra) {
        *f |= x;
    }

    // Coalescing, innermost loops first (a stable sort keeps program order within a depth).
    moves.sort_by_key(|m| std::cmp::Reverse(m.depth));
    for m in &moves {
        let (R::V(d), R::V(s)) = (m.dst, m.src) else {
            continue;
        };
        let (a, b) = (g.find(d.0 as usize), g.find(s.0 as usize));
        if a != b && !g.adj[a].get(b) && g.conservative(a, b) {
            g.merge(a, b);
        }
    }

    // Simplify.
    let roots: Vec<usize> = (0..nv)
        .filter(|&v| g.present[v] && g.find(v) == v)
        .collect();
    let mut degree: Vec<usize> = (0..nv).map(|v| g.adj[v].count()).collect();
    let mut removed = vec![false; nv];
    let mut stack = Vec::with_capacity(roots.len());
    while stack.len() < roots.len() {
        let remaining = roots.iter().copied().filter(|&v| !removed[v]);
        let easy = remaining
            .clone()
            .find(|&v| degree[v] < g.allowed(v).count_ones() as usize);
        let v = easy.unwrap_or_else(|| {
            remaining
                .min_by_key(|&v| (g.cost[v] * 16 / (degree[v] as u64 + 1), v))
                .unwrap_or(roots[0])
        });
        removed[v] = true;
        stack.push(v);
        for x in g.adj[v].iter() {
            degree[x] = degree[x].saturating_sub(1);
        }
    }

    // Select.
    let mut colour: Vec<Option<Reg>> = vec![None; nv];
    let mut spilled = Vec::new();
    while let Some(v) = stack.pop() {
        let mut free = g.allowed(v);
        for x in g.adj[v].iter() {
            if let Some(r) = colour[x] {
                free &= !(1 << r.0);
            }
        }
        let partner = moves.iter().find_map(|m| {
            let other = match (m.dst, m.src) {
                (R::V(d), o) if g.find(d.0 as usize) == v => o,
                (o, R::V(s)) if g.find(s.0 as usize) == v => o,
                _ => return None,
            };
            let r = match other {
                R::P(p) => Some(p),
                R::V(o) => colour[g.find(o.0 as usize)],
            }?;
            (free & (1 << r.0) != 0).then_some(r)
        });
        colour[v] = partner.or_else(|| CANDIDATES.into_iter().find(|r| free & (1 << r.0) != 0));
        if colour[v].is_none() {
            spilled.push(v);
        }
    }

    // Stack slots for what got no register, shared by classes that do not interfere.
    let mut home: Vec<Option<Home>> = vec![None; nv];
    let mut slots: Vec<Vec<usize>> = Vec::new();
    for &v in &spilled {
        let slot = slots
            .iter()
            .position(|users| users.iter().all(|&u| !g.adj[v].get(u)));
        match slot {
            Some(s) => slots[s].push(v),
            None => slots.push(vec![v]),
        }
    }
    let stack_base = code.stack_bytes;
    for (s, users) in slots.iter().enumerate() {
        for &v in users {
            home[v] = Some(Home::Spill((stack_base + 8 * (s as u32 + 1)) as i16));
        }
    }
    for v in 0..nv {
        let r = g.find(v);
        if g.present[v] {
            home[v] = colour[r].map(Home::Reg).or(home[r]);
        }
    }
    (home, stack_base + 8 * slots.len() as u32)
}

/// The code over the homes.
fn allocated(
    code: &VCode,
    home: &[Option<Home>],
    stack_bytes: u32,
    live_in: &[Bits],
    live_out: &[Bits],
) -> Result<Allocated, AllocError> {
    // Registers holding a value across each instruction: spill code there must not use them.
    let phys_out = physical_live_out(code);
    let busy: Vec<u16> = (0..code.insns.len())
        .map(|i| {
            let mut m = phys_out[i];
            for v in live_in[i].iter().chain(live_out[i].iter()) {
                if let Some(Home::Reg(r)) = home[v] {
                    m |= 1 << r.0;
                }
            }
            m
        })
        .collect();
    rewrite(code, home, &busy, stack_bytes)
}

/// Rewrites the code over the homes; `busy[i]` are the registers that hold a value across
/// instruction `i` (bit r = register r).
fn rewrite(
    code: &VCode,
    home: &[Option<Home>],
    busy: &[u16],
    stack_bytes: u32,
) -> Result<Allocated, AllocError> {
    let mut out = Allocated {
        code: PCode {
            insns: Vec::new(),
            labels: Vec::new(),
            vregs: 0,
            stack_bytes,
            objects: code.objects.clone(),
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
        let mut scratch = [Reg::R0, Reg::R1, Reg(2), Reg(3), Reg(4), Reg(5)]
            .into_iter()
            .filter(|r| !named.contains(r) && busy[i] & (1 << r.0) == 0);
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
