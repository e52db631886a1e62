//! Bytecode → virtual-register BPF, by abstract interpretation of the Lua slots.
//!
//! Two passes over the basic blocks: the first finds, for each block, what every slot holds on
//! entry (a fixpoint of [`join`]); the second emits code, moving values into each slot's own
//! virtual register on the edges where a successor expects a run-time value there.

use std::collections::BTreeMap;

use ljbpf_core::context::{Arch, Context};
use ljbpf_core::helper::Helper;
use ljbpf_core::insn::{AluOp, Insn, JmpOp, Label, MapId, Reg, Size, Src};
use ljbpf_core::map::MapKind;
use ljbpf_core::program::{Memory, ProgramKind};

use crate::ctype::{CType, CTypes};
use crate::diag::{Diagnostic, Span};
use crate::lua::bc::{Ins, Op};
use crate::lua::decode::{Const, Proto};
use crate::mir::{Rec, Reloc, VCode, VReg, R};
use crate::tracepoint::{TpFieldKind, TracepointFormat};

use packet::{Hdr, Next};
use value::{Base, Builtin, Ty, Val};

mod arith;
mod builtins;
mod cond;
mod consts;
mod dissect;
mod maps;
mod memory;
mod packet;
mod value;

/// The BPF stack limit (MAX_BPF_STACK).
pub const MAX_STACK: u32 = 512;

/// A map as lowering sees it.
#[derive(Clone, Debug)]
pub struct MapView {
    /// Its name.
    pub name: String,
    /// Its kind.
    pub kind: MapKind,
    /// Key type.
    pub key: CType,
    /// Value type.
    pub value: CType,
}

/// Everything lowering needs besides the function.
pub struct Env<'a> {
    /// The probe file.
    pub file: &'a str,
    /// The file's maps, by index.
    pub maps: &'a [MapView],
    /// The file's C types.
    pub ctypes: &'a CTypes,
    /// The program's kind.
    pub kind: &'a ProgramKind,
    /// The tracepoint's format, for tracepoint programs.
    pub tracepoint: Option<&'a TracepointFormat>,
}

/// The result of lowering one program function.
#[derive(Debug)]
pub struct Lowered {
    /// The code; its stack bytes are those of objects and call buffers (spill slots come
    /// after).
    pub code: VCode,
    /// The event type each perf/ring buffer map is written with, by map index.
    pub events: BTreeMap<u32, CType>,
}

type State = Vec<Val>;
type LResult<T> = Result<T, Diagnostic>;

/// A scalar operand: a constant or a register, with its LuaJIT type.
#[derive(Clone, Copy, Debug)]
struct Opnd {
    k: Option<i64>,
    v: Option<VReg>,
    ty: Ty,
    width: u8,
}

/// A branch condition.
enum Cond {
    Known(bool),
    Test { op: JmpOp, a: VReg, b: Src<VReg> },
}

struct Block {
    start: usize,
    end: usize,
}

/// Lowers one program function.
pub fn lower(proto: &Proto, env: &Env) -> Result<Lowered, Vec<Diagnostic>> {
    let blocks = split_blocks(proto);
    let preds = predecessors(proto, &blocks);
    if let Some(b) = endless_loop(&blocks, &preds) {
        let line = proto
            .ins
            .get(blocks[b].start)
            .map_or(proto.first_line, |i| i.1);
        return Err(vec![Diagnostic::new(
            Span::new(env.file, line),
            "this loop never ends: no path leaves it, so the kernel verifier would reject it",
        )
        .hint("give it an exit: a condition, `break` or `return`")]);
    }
    // A block entered only from one earlier block takes values where that block left them;
    // other blocks (joins, loop heads) take run-time values in each slot's own register.
    let direct: Vec<bool> = preds
        .iter()
        .enumerate()
        .map(|(b, p)| p.len() == 1 && p[0] < b)
        .collect();
    let mut l = Lowerer::new(proto, env);
    // Pass 1: entry states.
    let nslots = proto.stackslots as usize + 4;
    let mut entry: Vec<Option<State>> = vec![None; blocks.len()];
    entry[0] = Some(l.initial_state(nslots));
    let mut rounds = 0;
    let mut changed = true;
    while changed {
        changed = false;
        rounds += 1;
        if rounds > 100 {
            return Err(vec![l.err_at(
                proto.first_line,
                "internal error: slot types did not settle (please report this probe file)",
            )]);
        }
        for b in 0..blocks.len() {
            let Some(st) = entry[b].clone() else { continue };
            l.code = VCode::default();
            l.code.vregs = nslots as u32;
            l.errors.clear();
            let edges = l.run_block(&blocks, b, st, None);
            for (succ, st2) in edges {
                // A block reached from one place takes the values where they are; at a join
                // they move into each slot's own register.
                if direct[succ] {
                    if entry[succ].as_ref() != Some(&st2) {
                        entry[succ] = Some(st2);
                        changed = true;
                    }
                    continue;
                }
                let st2: State = st2
                    .into_iter()
                    .enumerate()
                    .map(|(s, v)| canonical(s, v))
                    .collect();
                let new = match &entry[succ] {
                    None => st2,
                    Some(old) => old
                        .iter()
                        .zip(st2.iter())
                        .enumerate()
                        .map(|(s, (a, b))| join(s, a, b))
                        .collect(),
                };
                if entry[succ].as_ref() != Some(&new) {
                    entry[succ] = Some(new);
                    changed = true;
                }
            }
        }
    }
    // Pass 2: code.
    let scratch = l.scratch_need;
    l.scratch_base = l.objects_top + align8(scratch) as i32;
    l.code = VCode::default();
    l.code.vregs = nslots as u32;
    l.errors.clear();
    let labels: Vec<Label> = (0..blocks.len()).map(|_| l.code.label()).collect();
    l.line = proto.first_line;
    l.e(Insn::Alu64 {
        op: AluOp::Mov,
        dst: R::P(Reg::R6),
        src: Src::Reg(R::P(Reg::R1)),
    });
    // Virtual register numbers differ from pass 1's, so a direct block's entry is the state
    // its predecessor leaves in this pass.
    let mut direct_entry: Vec<Option<State>> = vec![None; blocks.len()];
    for b in 0..blocks.len() {
        if entry[b].is_none() {
            continue;
        }
        let st = if direct[b] {
            direct_entry[b].take()
        } else {
            entry[b].clone()
        };
        let Some(st) = st else { continue };
        l.code.bind(labels[b]);
        for (succ, out) in l.run_block(&blocks, b, st, Some((&entry, &labels))) {
            if direct[succ] {
                direct_entry[succ] = Some(out);
            }
        }
    }
    let stack_bytes = l.scratch_base as u32;
    if l.errors.is_empty() && stack_bytes > MAX_STACK {
        l.errors.push(l.err_at(
            proto.first_line,
            &format!("the program needs {stack_bytes} bytes of stack; BPF allows {MAX_STACK}"),
        ));
    }
    if l.errors.is_empty() {
        l.code.stack_bytes = stack_bytes;
        Ok(Lowered {
            code: l.code,
            events: l.events,
        })
    } else {
        Err(l.errors)
    }
}

fn align8(n: u32) -> u32 {
    (n + 7) & !7
}

/// A block of a cycle that no path leaves (`while true do end`), if there is one.
fn endless_loop(blocks: &[Block], preds: &[Vec<usize>]) -> Option<usize> {
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
fn predecessors(proto: &Proto, blocks: &[Block]) -> Vec<Vec<usize>> {
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

fn split_blocks(proto: &Proto) -> Vec<Block> {
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

/// A slot's value as a block entry sees it: run-time values live in the slot's own register.
fn canonical(slot: usize, v: Val) -> Val {
    let own = VReg(slot as u32);
    match v {
        Val::Rt { ty, width, .. } => Val::Rt { v: own, ty, width },
        Val::MapPtr {
            map, ty, nullable, ..
        } => Val::MapPtr {
            v: own,
            map,
            ty,
            nullable,
        },
        Val::Ref { ref ty, .. } if scalar_ty(ty).is_some() => Val::Rt {
            v: own,
            ty: scalar_ty(ty).unwrap_or(Ty::Num),
            width: ty.size() as u8,
        },
        // Values that carry a register (virtual register numbers differ between the passes,
        // so at a join every carried register is the slot's own).
        Val::Ref {
            base: Base::Map(_),
            off,
            ty,
        } => Val::Ref {
            base: Base::Map(own),
            off,
            ty,
        },
        Val::Ptr { pointee, .. } => Val::Ptr { v: own, pointee },
        Val::Slice {
            off,
            dynoff: Some(_),
            len,
        } => Val::Slice {
            off,
            dynoff: Some(own),
            len,
        },
        Val::Pkt {
            hdr,
            off,
            dynoff: Some(_),
        } => Val::Pkt {
            hdr,
            off,
            dynoff: Some(own),
        },
        other => other,
    }
}

/// The LuaJIT type of a constant, if it is a scalar.
fn const_ty(c: &Const) -> Option<Ty> {
    match c {
        Const::Num(n) if n.fract() == 0.0 => Some(Ty::Num),
        Const::Int64(_) => Some(Ty::I64),
        Const::UInt64(_) => Some(Ty::U64),
        Const::Bool(_) => Some(Ty::Bool),
        _ => None,
    }
}

/// The type LuaJIT gives a value read from memory of C type `ty`.
fn scalar_ty(ty: &CType) -> Option<Ty> {
    match ty {
        CType::Bool => Some(Ty::Bool),
        CType::Int {
            size: 8,
            signed: true,
            ..
        } => Some(Ty::I64),
        CType::Int {
            size: 8,
            signed: false,
            ..
        } => Some(Ty::U64),
        CType::Int { .. } => Some(Ty::Num),
        CType::Pointer(_) => Some(Ty::U64),
        _ => None,
    }
}

/// Merges what a slot holds on two incoming edges.
fn join(slot: usize, a: &Val, b: &Val) -> Val {
    if a == b {
        return a.clone();
    }
    let own = VReg(slot as u32);
    let ty_of = |v: &Val| match v {
        Val::Rt { ty, .. } => Some(*ty),
        Val::K(c) => const_ty(c),
        _ => None,
    };
    match (a, b) {
        (Val::Undef(why), _) | (_, Val::Undef(why)) => Val::Undef(why),
        (
            Val::MapPtr {
                map,
                ty,
                nullable: n1,
                ..
            },
            Val::MapPtr {
                map: m2,
                nullable: n2,
                ..
            },
        ) if map == m2 => Val::MapPtr {
            v: own,
            map: *map,
            ty: ty.clone(),
            nullable: *n1 || *n2,
        },
        // Dissectors at different places: the difference moves into a run-time offset.
        (
            Val::Pkt {
                hdr: h1, off: o1, ..
            },
            Val::Pkt {
                hdr: h2, off: o2, ..
            },
        ) => Val::Pkt {
            hdr: if h1 == h2 { *h1 } else { Hdr::Data },
            off: (*o1).min(*o2),
            dynoff: Some(own),
        },
        (Val::Ptr { pointee: p1, .. }, Val::Ptr { pointee: p2, .. }) if p1 == p2 => Val::Ptr {
            v: own,
            pointee: p1.clone(),
        },
        (Val::MapPtr { map, ty, .. }, Val::K(Const::Nil))
        | (Val::K(Const::Nil), Val::MapPtr { map, ty, .. }) => Val::MapPtr {
            v: own,
            map: *map,
            ty: ty.clone(),
            nullable: true,
        },
        _ => match (ty_of(a), ty_of(b)) {
            (Some(x), Some(y)) if x == y => {
                let width = match (a, b) {
                    (Val::Rt { width: w1, .. }, Val::Rt { width: w2, .. }) if w1 == w2 => *w1,
                    _ => 0,
                };
                Val::Rt {
                    v: own,
                    ty: x,
                    width,
                }
            }
            (Some(_), Some(_)) => {
                Val::Undef("it holds values of different types on different paths")
            }
            _ if matches!(a, Val::K(Const::Nil)) || matches!(b, Val::K(Const::Nil)) => {
                Val::Undef("it is nil on some paths")
            }
            _ => Val::Undef("it holds different kinds of values on different paths"),
        },
    }
}

struct Lowerer<'a> {
    proto: &'a Proto,
    env: &'a Env<'a>,
    code: VCode,
    errors: Vec<Diagnostic>,
    line: u32,
    /// Stack objects by the pc of the `ffi.new` that made them: (offset, size).
    objects: BTreeMap<usize, i32>,
    objects_top: i32,
    scratch_need: u32,
    scratch_base: i32,
    /// How many values the last multi-result call left (always 1 for builtins).
    multres: u8,
    /// Event types of perf/ring buffer maps, from `perf_submit`/`ringbuf_output`.
    events: BTreeMap<u32, CType>,
}

impl<'a> Lowerer<'a> {
    fn new(proto: &'a Proto, env: &'a Env<'a>) -> Lowerer<'a> {
        Lowerer {
            proto,
            env,
            code: VCode::default(),
            errors: Vec::new(),
            line: proto.first_line,
            objects: BTreeMap::new(),
            objects_top: 0,
            scratch_need: 0,
            scratch_base: 0,
            multres: 0,
            events: BTreeMap::new(),
        }
    }

    fn initial_state(&self, n: usize) -> State {
        let mut st = vec![Val::Undef("it is used before it is set"); n];
        for (i, s) in st.iter_mut().enumerate().take(self.proto.params as usize) {
            *s = if i == 0 { Val::Ctx } else { Val::K(Const::Nil) };
        }
        st
    }

    fn err_at(&self, line: u32, msg: &str) -> Diagnostic {
        Diagnostic::new(Span::new(self.env.file, line), msg.to_string())
    }

    /// What the program's first parameter points to.
    fn context(&self) -> Context {
        self.env.kind.class().context()
    }

    fn err(&self, msg: impl Into<String>) -> Diagnostic {
        Diagnostic::new(Span::new(self.env.file, self.line), msg.into())
    }

    fn e(&mut self, insn: Insn<R>) {
        self.code.push(insn, self.line);
    }

    /// Emits an instruction whose offset or immediate `off` is a position in the program's
    /// context, recording the tracepoint field it falls in so the loader can move it to the
    /// loading kernel's layout (other contexts have fixed UAPI layouts).
    fn e_ctx(&mut self, insn: Insn<R>, off: i32) {
        let reloc = self.env.tracepoint.and_then(|tp| {
            let f = tp.fields.iter().find(|f| {
                let start = i64::from(f.offset);
                (start..start + i64::from(f.size.max(1))).contains(&i64::from(off))
            })?;
            Some(Reloc::TracepointField {
                event: format!("{}/{}", tp.category, tp.name),
                field: f.name.clone(),
                offset: f.offset,
                size: f.size,
            })
        });
        self.code.insns.push(Rec {
            insn,
            line: self.line,
            reloc,
        });
    }

    fn tmp(&mut self) -> VReg {
        self.code.vreg()
    }

    /// Lowers block `b` from entry state `st`. In the emitting pass (`targets` given), edges
    /// move values to where successors expect them and jump; returns the outgoing edges.
    fn run_block(
        &mut self,
        blocks: &[Block],
        b: usize,
        mut st: State,
        targets: Option<(&Vec<Option<State>>, &Vec<Label>)>,
    ) -> Vec<(usize, State)> {
        let block = &blocks[b];
        let succ_of = |pc: isize| blocks.iter().position(|x| x.start as isize == pc);
        let mut edges = Vec::new();
        let mut pc = block.start;
        while pc < block.end {
            let (ins, line) = self.proto.ins[pc];
            self.line = line;
            // Numeric for loops: FORI enters or skips the body, FORL steps and loops back.
            if matches!(ins.op, Op::FORI | Op::FORL | Op::IFORL) {
                let target = succ_of(ins.jump_target(pc));
                let fall = succ_of(pc as isize + 1);
                let (Some(target), Some(fall)) = (target, fall) else {
                    self.errors
                        .push(self.err("internal error: loop target is not a block start"));
                    return edges;
                };
                match self.for_loop(&mut st, ins) {
                    Ok((cond, st_taken, st_fall)) => {
                        self.emit_branch(
                            cond,
                            (target, st_taken),
                            (fall, st_fall),
                            b,
                            targets,
                            &mut edges,
                        );
                    }
                    Err(d) => self.errors.push(d),
                }
                return edges;
            }
            // A comparison or test followed by its JMP ends the block.
            if ins.op.is_cond()
                && pc + 1 < self.proto.ins.len()
                && self.proto.ins[pc + 1].0.op == Op::JMP
            {
                let jmp = self.proto.ins[pc + 1].0;
                let taken = succ_of(jmp.jump_target(pc + 1));
                let fall = succ_of(pc as isize + 2);
                let (Some(taken), Some(fall)) = (taken, fall) else {
                    self.errors
                        .push(self.err("internal error: branch target is not a block start"));
                    return edges;
                };
                match self.branch(&mut st, ins) {
                    Ok((cond, st_taken, st_fall)) => {
                        self.emit_branch(
                            cond,
                            (taken, st_taken),
                            (fall, st_fall),
                            b,
                            targets,
                            &mut edges,
                        );
                    }
                    Err(d) => self.errors.push(d),
                }
                return edges;
            }
            match self.step(&mut st, ins, pc) {
                Ok(Flow::Next) => {}
                Ok(Flow::Jump(t)) => {
                    match succ_of(t) {
                        Some(s) => self.emit_edge(st.clone(), s, b, targets, &mut edges, true),
                        None => self
                            .errors
                            .push(self.err("internal error: jump target is not a block start")),
                    }
                    return edges;
                }
                Ok(Flow::Return) => return edges,
                Err(d) => {
                    self.errors.push(d);
                    return edges;
                }
            }
            pc += 1;
        }
        // Fall through.
        if let Some(s) = succ_of(block.end as isize) {
            self.emit_edge(st, s, b, targets, &mut edges, false);
        }
        edges
    }

    /// Records an edge; when emitting, moves values to where the successor expects them and
    /// jumps unless the successor comes next.
    fn emit_edge(
        &mut self,
        st: State,
        succ: usize,
        from: usize,
        targets: Option<(&Vec<Option<State>>, &Vec<Label>)>,
        edges: &mut Vec<(usize, State)>,
        _explicit: bool,
    ) {
        if let Some((entry, labels)) = targets {
            if let Some(want) = &entry[succ] {
                self.edge_moves(&st, want);
            }
            if succ != from + 1 || !self.next_emitted(entry, from, succ) {
                self.e(Insn::Ja {
                    target: labels[succ],
                });
            }
        }
        edges.push((succ, st));
    }

    /// Whether `succ` is the next block that gets code after `from`.
    fn next_emitted(&self, entry: &[Option<State>], from: usize, succ: usize) -> bool {
        (from + 1..entry.len()).find(|&i| entry[i].is_some()) == Some(succ)
    }

    fn emit_branch(
        &mut self,
        cond: Cond,
        taken: (usize, State),
        fall: (usize, State),
        from: usize,
        targets: Option<(&Vec<Option<State>>, &Vec<Label>)>,
        edges: &mut Vec<(usize, State)>,
    ) {
        let (op, a, bsrc) = match cond {
            Cond::Known(true) => {
                return self.emit_edge(taken.1, taken.0, from, targets, edges, true)
            }
            Cond::Known(false) => {
                return self.emit_edge(fall.1, fall.0, from, targets, edges, false)
            }
            Cond::Test { op, a, b } => (op, a, b),
        };
        let bsrc = rsrc(bsrc);
        if let Some((entry, labels)) = targets {
            // if cond goto T' ; <moves to fall> ; goto F ; T': <moves to taken> ; goto T
            let mark = self.code.insns.len();
            if let Some(want) = &entry[taken.0] {
                self.edge_moves(&taken.1, want);
            }
            let taken_moves: Vec<_> = self.code.insns.drain(mark..).collect();
            if taken_moves.is_empty() {
                self.e(Insn::Jmp {
                    op,
                    dst: R::V(a),
                    src: bsrc,
                    target: labels[taken.0],
                });
                self.emit_edge(fall.1, fall.0, from, targets, edges, false);
            } else {
                let t2 = self.code.label();
                self.e(Insn::Jmp {
                    op,
                    dst: R::V(a),
                    src: bsrc,
                    target: t2,
                });
                if let Some(want) = &entry[fall.0] {
                    self.edge_moves(&fall.1, want);
                }
                self.e(Insn::Ja {
                    target: labels[fall.0],
                });
                self.code.bind(t2);
                self.code.insns.extend(taken_moves);
                self.e(Insn::Ja {
                    target: labels[taken.0],
                });
                edges.push((fall.0, fall.1));
            }
        } else {
            edges.push((fall.0, fall.1));
        }
        edges.push((taken.0, taken.1));
    }

    /// Puts run-time values where the successor's entry state expects them.
    /// Puts values where the successor's entry state expects them. The moves form a parallel
    /// copy (`n = c; c = d` must not read the new `c`): values that need computing are computed
    /// first, then register moves are ordered so that none overwrites a register another move
    /// still reads, and cycles go through a temporary; constants come last.
    fn edge_moves(&mut self, have: &State, want: &State) {
        let mut moves: Vec<(VReg, VReg)> = Vec::new();
        let mut consts: Vec<(VReg, i64)> = Vec::new();
        for (s, w) in want.iter().enumerate() {
            let own = VReg(s as u32);
            let Some(h) = have.get(s) else { continue };
            // Carried registers: a dissector's run-time offset (plus the constant part that
            // differs), a pointer, a slice's offset, the map value under a field.
            match (w, h) {
                (
                    Val::Pkt {
                        off: wo,
                        dynoff: Some(wd),
                        ..
                    },
                    Val::Pkt {
                        off: ho,
                        dynoff: hd,
                        ..
                    },
                ) if *wd == own => {
                    match hd {
                        Some(v) if ho != wo => {
                            let t = self.tmp();
                            self.mov(t, *v);
                            self.alu(AluOp::Add, t, Src::Imm(ho - wo));
                            moves.push((own, t));
                        }
                        Some(v) => moves.push((own, *v)),
                        None => consts.push((own, i64::from(ho - wo))),
                    }
                    continue;
                }
                (Val::Ptr { v: wv, .. }, Val::Ptr { v: hv, .. })
                | (
                    Val::Slice {
                        dynoff: Some(wv), ..
                    },
                    Val::Slice {
                        dynoff: Some(hv), ..
                    },
                )
                | (
                    Val::Ref {
                        base: Base::Map(wv),
                        ..
                    },
                    Val::Ref {
                        base: Base::Map(hv),
                        ..
                    },
                ) if *wv == own => {
                    moves.push((own, *hv));
                    continue;
                }
                _ => {}
            }
            let wants_reg = matches!(w, Val::Rt { v, .. } | Val::MapPtr { v, .. } if *v == own);
            if !wants_reg {
                continue;
            }
            match h {
                Val::Rt { v, .. } | Val::MapPtr { v, .. } => moves.push((own, *v)),
                Val::K(Const::Nil) => consts.push((own, 0)),
                Val::K(c) => {
                    if let Some(k) = const_int(c) {
                        consts.push((own, k));
                    }
                }
                Val::Ref { .. } => {
                    // Loaded now, before any move overwrites the register it is read through.
                    if let Ok(o) = self.operand(h.clone()) {
                        let t = self.reg_of(o);
                        moves.push((own, t));
                    }
                }
                _ => {}
            }
        }
        moves.retain(|(d, s)| d != s);
        while !moves.is_empty() {
            let ready = moves
                .iter()
                .position(|(d, _)| !moves.iter().any(|(_, s)| s == d));
            match ready {
                Some(i) => {
                    let (d, s) = moves.remove(i);
                    self.mov(d, s);
                }
                None => {
                    // A cycle: save one destination's value and read it from the copy.
                    let (d, _) = moves[0];
                    let t = self.tmp();
                    self.mov(t, d);
                    for m in moves.iter_mut() {
                        if m.1 == d {
                            m.1 = t;
                        }
                    }
                }
            }
        }
        for (d, k) in consts {
            self.mov_imm(d, k);
        }
    }

    fn mov(&mut self, dst: VReg, src: VReg) {
        self.e(Insn::Alu64 {
            op: AluOp::Mov,
            dst: R::V(dst),
            src: Src::Reg(R::V(src)),
        });
    }

    fn mov_imm_r(&mut self, dst: R, k: i64) {
        if let Ok(i) = i32::try_from(k) {
            self.e(Insn::Alu64 {
                op: AluOp::Mov,
                dst,
                src: Src::Imm(i),
            });
        } else {
            self.e(Insn::LdImm64 { dst, imm: k });
        }
    }

    fn mov_imm(&mut self, dst: VReg, k: i64) {
        self.mov_imm_r(R::V(dst), k);
    }

    /// Moves an operand into register `dst`.
    fn put_reg(&mut self, o: Opnd, dst: VReg) {
        match (o.k, o.v) {
            (Some(k), _) => self.mov_imm(dst, k),
            (None, Some(v)) => {
                if v != dst {
                    self.mov(dst, v)
                }
            }
            (None, None) => self.mov_imm(dst, 0),
        }
    }

    /// An operand in some register (constants are materialised into a new one).
    fn reg_of(&mut self, o: Opnd) -> VReg {
        match o.v {
            Some(v) if o.k.is_none() => v,
            _ => {
                let t = self.tmp();
                self.put_reg(o, t);
                t
            }
        }
    }

    fn get(&self, st: &State, slot: u8) -> Val {
        st.get(slot as usize)
            .cloned()
            .unwrap_or(Val::Undef("it is outside the frame"))
    }

    fn set(&self, st: &mut State, slot: u8, v: Val) {
        let i = slot as usize;
        if i >= st.len() {
            st.resize(i + 1, Val::Undef("it is used before it is set"));
        }
        st[i] = v;
    }

    fn kstr(&self, idx: u16) -> LResult<String> {
        self.proto
            .kstr(idx)
            .map(str::to_string)
            .ok_or_else(|| self.err("internal error: expected a string constant"))
    }

    fn knum(&self, idx: u16) -> LResult<i64> {
        let n = *self
            .proto
            .knum
            .get(idx as usize)
            .ok_or_else(|| self.err("internal error: number constant out of range"))?;
        num_to_int(n).ok_or_else(|| self.not_int(n))
    }

    fn undefined(&self, why: &str) -> Diagnostic {
        if why.contains("nil") {
            self.err(format!("this value may be nil here: {why}"))
                .hint("give it a value on every path, e.g. `local x = 0`")
        } else {
            self.err(format!("this value is undefined here: {why}"))
        }
    }

    fn not_int(&self, n: f64) -> Diagnostic {
        if n.fract() == 0.0 && n.is_finite() {
            self.err(format!("the number {n:e} does not fit in 64 bits"))
                .hint("use an LL/ULL literal for 64-bit constants")
        } else {
            self.err(format!("the number {n} is not an integer"))
                .hint("BPF programs compute with integers only")
        }
    }

    /// Reads a value as a scalar operand, loading fields and map values.
    fn operand(&mut self, v: Val) -> LResult<Opnd> {
        match v {
            Val::K(c) => match (const_int(&c), const_ty(&c)) {
                (Some(k), Some(ty)) => Ok(Opnd { k: Some(k), v: None, ty, width: 0 }),
                _ => match c {
                                        Const::Num(n) => Err(self.not_int(n)),
                    Const::Nil => Err(self
                        .err("attempt to use nil as a number")
                        .hint("a map lookup gives nil when the key is absent: guard it with `if v then ... end`")),
                    other => Err(self.err(format!("attempt to use {} as a number", other.describe()))),
                },
            },
            Val::Rt { v, ty, width } => Ok(Opnd { k: None, v: Some(v), ty, width }),
            Val::MapPtr { v, ty, nullable, .. } => {
                if nullable {
                    return Err(self
                        .err("this map value may be nil here (the key may be absent)")
                        .hint("guard it: `local v = m[k]; if v then ... end`"));
                }
                self.load(Base::Map(v), 0, &ty)
            }
                                    Val::Ref { base, off, ty } => self.load(base, off, &ty),
            // A pointer used as a number is its address (uint64_t, as tonumber-free LuaJIT
            // arithmetic on pointers would need a cast).
                        Val::Ptr { v, .. } => Ok(Opnd {
                k: None,
                v: Some(v),
                ty: Ty::U64,
                width: 8,
            }),
                        // A dissector used as a number is its offset in the packet (`data + 7 > skb.len`).
            Val::Pkt { off, dynoff, .. } => match dynoff {
                None => Ok(Opnd {
                    k: Some(i64::from(off)),
                    v: None,
                    ty: Ty::Num,
                    width: 0,
                }),
                Some(d) => {
                    let t = self.tmp();
                    self.mov(t, d);
                    self.alu(AluOp::Add, t, Src::Imm(off));
                    Ok(Opnd {
                        k: None,
                        v: Some(t),
                        ty: Ty::Num,
                        width: 0,
                    })
                }
            },
            Val::DataLoc { off, .. } => self.load(Base::Ctx, off, &CType::Int { size: 4, signed: false, is_char: false }),
            Val::Slice { off, dynoff, len } => match len {
                1 | 2 | 4 | 8 => {
                    let v = self.pkt_load(off, len, dynoff)?;
                    let ty = if len == 8 { Ty::U64 } else { Ty::Num };
                    Ok(Opnd { k: None, v: Some(v), ty, width: len as u8 })
                }
                _ => Err(self.err(format!(
                    "a {len}-byte packet slice cannot be used as a number (only 1, 2, 4 or 8 bytes)"
                ))),
            },
            Val::Undef(why) => Err(self.undefined(why)),
            other => Err(self.err(format!("attempt to use {} as a number", other.describe()))),
        }
    }

    /// Loads a scalar of C type `ty` from `base + off`, extended the way LuaJIT reads it.
    fn load(&mut self, base: Base, off: i32, ty: &CType) -> LResult<Opnd> {
        let Some(sty) = scalar_ty(ty) else {
            return Err(self.err(format!(
                "a value of type {} cannot be used as a number",
                ty.c_name()
            )));
        };
        let size = ty.size();
        let Some(sz) = Size::from_bytes(size) else {
            return Err(self.err(format!("cannot load a {size}-byte value")));
        };
        let (src, off) = match base {
            Base::Ctx => (R::P(Reg::R6), off),
            Base::Stack(o) => (R::P(Reg::R10), off - o),
            Base::Map(v) => (R::V(v), off),
        };
        let off16 = i16::try_from(off).map_err(|_| self.err("field offset is too large"))?;
        let t = self.tmp();
        let ldx = Insn::Ldx {
            size: sz,
            dst: R::V(t),
            src,
            off: off16,
        };
        if base == Base::Ctx {
            self.e_ctx(ldx, off);
        } else {
            self.e(ldx);
        }
        if ty.is_signed() && size < 8 {
            if size == 4 {
                self.e(Insn::Sext32 { dst: R::V(t) });
            } else {
                let sh = 64 - 8 * size as i32;
                self.alu(AluOp::Lsh, t, Src::Imm(sh));
                self.alu(AluOp::Arsh, t, Src::Imm(sh));
            }
        }
        Ok(Opnd {
            k: None,
            v: Some(t),
            ty: sty,
            width: size as u8,
        })
    }

    fn alu(&mut self, op: AluOp, dst: VReg, src: Src<VReg>) {
        let src = rsrc(src);
        self.e(Insn::Alu64 {
            op,
            dst: R::V(dst),
            src,
        });
    }

    fn alu32(&mut self, op: AluOp, dst: VReg, src: Src<VReg>) {
        let src = rsrc(src);
        self.e(Insn::Alu32 {
            op,
            dst: R::V(dst),
            src,
        });
    }

    /// `src` as an ALU source: an immediate when it fits 32 bits.
    fn src_of(&mut self, o: Opnd) -> Src<VReg> {
        match o.k {
            Some(k) if i32::try_from(k).is_ok() => Src::Imm(k as i32),
            _ => Src::Reg(self.reg_of(o)),
        }
    }

    /// Reads a scalar context field right away: the context never changes, and an error
    /// (a field the verifier refuses) then points at the line that reads it.
    fn fetch_ctx(&mut self, v: Val) -> LResult<Val> {
        match &v {
            Val::Ref {
                base: Base::Ctx,
                ty,
                ..
            } if scalar_ty(ty).is_some() && !matches!(ty, CType::Pointer(_)) => {
                let o = self.operand(v)?;
                Ok(Val::Rt {
                    v: self.reg_of(o),
                    ty: o.ty,
                    width: o.width,
                })
            }
            _ => Ok(v),
        }
    }

    /// Materialises pending field reads before something writes memory.
    fn settle_refs(&mut self, st: &mut State, keep: &[u8]) -> LResult<()> {
        for (s, slot) in st.iter_mut().enumerate() {
            if keep.contains(&(s as u8)) {
                continue;
            }
            // The context is read-only: only stack and map memory can change under a Ref.
            if let Val::Ref { ty, base, .. } = &*slot {
                if scalar_ty(ty).is_some() && *base != Base::Ctx {
                    let o = self.operand(slot.clone())?;
                    *slot = Val::Rt {
                        v: o.v.unwrap_or(VReg(s as u32)),
                        ty: o.ty,
                        width: o.width,
                    };
                }
            }
        }
        Ok(())
    }

    fn step(&mut self, st: &mut State, ins: Ins, pc: usize) -> LResult<Flow> {
        let (a, d) = (ins.a, ins.d);
        match ins.op {
            Op::KSTR => {
                let s = self.kstr(d)?;
                self.set(st, a, Val::K(Const::Str(s)));
            }
            Op::KCDATA => {
                let c = self
                    .proto
                    .kgc
                    .get(d as usize)
                    .cloned()
                    .unwrap_or(Const::Nil);
                match c {
                    Const::Int64(_) | Const::UInt64(_) => self.set(st, a, Val::K(c)),
                    other => {
                        return Err(self.err(format!("unsupported constant {}", other.describe())))
                    }
                }
            }
            Op::KSHORT => self.set(st, a, Val::K(Const::Num(f64::from(ins.d_signed())))),
            Op::KNUM => {
                let n = self.proto.knum.get(d as usize).copied().unwrap_or(0.0);
                if num_to_int(n).is_none() {
                    return Err(self.not_int(n));
                }
                self.set(st, a, Val::K(Const::Num(n)));
            }
            Op::KPRI => self.set(st, a, Val::K(pri(d))),
            Op::KNIL => {
                for s in a..=(d as u8) {
                    self.set(st, s, Val::K(Const::Nil));
                }
            }
            Op::MOV => {
                let v = self.get(st, d as u8);
                self.set(st, a, v);
            }
            Op::NOT => {
                let v = self.get(st, d as u8);
                let out = match self.truth(v)? {
                    Cond::Known(t) => Val::K(Const::Bool(!t)),
                    Cond::Test { op, a: x, b } => {
                        // t = 0; if x is truthy goto skip; t = 1; skip:
                        let t = self.tmp();
                        self.mov_imm(t, 0);
                        let skip = self.code.label();
                        let b = rsrc(b);
                        self.e(Insn::Jmp {
                            op,
                            dst: R::V(x),
                            src: b,
                            target: skip,
                        });
                        self.mov_imm(t, 1);
                        self.code.bind(skip);
                        Val::Rt {
                            v: t,
                            ty: Ty::Bool,
                            width: 0,
                        }
                    }
                };
                self.set(st, a, out);
            }
            Op::UNM => {
                let o = self.operand(self.get(st, d as u8))?;
                let out = self.arith(
                    Op::SUBVV,
                    Opnd {
                        k: Some(0),
                        v: None,
                        ty: Ty::Num,
                        width: 0,
                    },
                    o,
                )?;
                self.set(st, a, out);
            }
            Op::ADDVN
            | Op::SUBVN
            | Op::MULVN
            | Op::DIVVN
            | Op::MODVN
            | Op::ADDNV
            | Op::SUBNV
            | Op::MULNV
            | Op::DIVNV
            | Op::MODNV
            | Op::ADDVV
            | Op::SUBVV
            | Op::MULVV
            | Op::DIVVV
            | Op::MODVV => {
                let (x, y) = match ins.op {
                    Op::ADDVN | Op::SUBVN | Op::MULVN | Op::DIVVN | Op::MODVN => {
                        (self.get(st, ins.b), num(self.knum(u16::from(ins.c))?))
                    }
                    Op::ADDNV | Op::SUBNV | Op::MULNV | Op::DIVNV | Op::MODNV => {
                        (num(self.knum(u16::from(ins.c))?), self.get(st, ins.b))
                    }
                    _ => (self.get(st, ins.b), self.get(st, ins.c)),
                };
                let out = match (&x, &y) {
                    // Moving a dissector: `pkt.ip + 9`, `d + n`.
                    (Val::Pkt { .. }, _) | (_, Val::Pkt { .. })
                        if matches!(ins.op, Op::ADDVN | Op::ADDNV | Op::ADDVV) =>
                    {
                        self.pkt_add(x, y)?
                    }
                    _ => {
                        let x = self.operand(x)?;
                        let y = self.operand(y)?;
                        self.arith(ins.op, x, y)?
                    }
                };
                self.set(st, a, out);
            }
            Op::BNOT => {
                let x = self.operand(self.get(st, d as u8))?;
                let out = self.bitop(Builtin::BitBnot, &[x])?;
                self.set(st, a, out);
            }
            Op::BAND | Op::BOR | Op::BXOR | Op::BSHL | Op::BSHR | Op::BSAR => {
                let x = self.operand(self.get(st, ins.b))?;
                let y = self.operand(self.get(st, ins.c))?;
                let op = match ins.op {
                    Op::BAND => Builtin::BitBand,
                    Op::BOR => Builtin::BitBor,
                    Op::BXOR => Builtin::BitBxor,
                    Op::BSHL => Builtin::BitLshift,
                    Op::BSHR => Builtin::BitRshift,
                    _ => Builtin::BitArshift,
                };
                let out = self.bitop(op, &[x, y])?;
                self.set(st, a, out);
            }
            Op::UGET => {
                let v = match self.proto.upvalues.get(d as usize) {
                    Some((_, c)) => Val::K(c.clone()),
                    None => return Err(self.err("internal error: upvalue out of range")),
                };
                self.set(st, a, v);
            }
            Op::GGET => {
                let name = self.kstr(d)?;
                let v = self.global(&name)?;
                self.set(st, a, v);
            }
            Op::TGETS => {
                let key = self.kstr(u16::from(ins.c))?;
                let obj = self.get(st, ins.b);
                let v = self.index_str(obj, &key)?;
                let v = self.fetch_ctx(v)?;
                self.set(st, a, v);
            }
            Op::TGETB => {
                let obj = self.get(st, ins.b);
                let v = self.index(obj, Val::K(Const::Num(f64::from(ins.c))))?;
                let v = self.fetch_ctx(v)?;
                self.set(st, a, v);
            }
            Op::TGETV => {
                let obj = self.get(st, ins.b);
                let key = self.get(st, ins.c);
                let v = match (&obj, &key) {
                    (_, Val::K(Const::Str(s))) => self.index_str(obj.clone(), s)?,
                    _ => self.index(obj, key)?,
                };
                let v = self.fetch_ctx(v)?;
                self.set(st, a, v);
            }
            Op::TSETS => {
                self.settle_refs(st, &[])?;
                let key = self.kstr(u16::from(ins.c))?;
                let obj = self.get(st, ins.b);
                let val = self.get(st, a);
                self.store_str(obj, &key, val)?;
            }
            Op::TSETB => {
                self.settle_refs(st, &[])?;
                let obj = self.get(st, ins.b);
                let val = self.get(st, a);
                self.store(obj, Val::K(Const::Num(f64::from(ins.c))), val)?;
            }
            Op::TSETV => {
                self.settle_refs(st, &[])?;
                let obj = self.get(st, ins.b);
                let key = self.get(st, ins.c);
                let val = self.get(st, a);
                match &key {
                    Val::K(Const::Str(s)) => self.store_str(obj, s, val)?,
                    _ => self.store(obj, key, val)?,
                }
            }
            Op::CALL | Op::CALLT | Op::CALLM | Op::CALLMT => {
                // Arguments start at A+2 (GC64 frames: A is the function, A+1 the frame link).
                // CALLM/CALLMT take C/D fixed arguments plus the results of the previous
                // multi-result call, which builtins always make exactly one.
                let nargs = match ins.op {
                    Op::CALL => ins.c.checked_sub(1),
                    Op::CALLT => (d as u8).checked_sub(1),
                    Op::CALLM => Some(ins.c.saturating_add(self.multres)),
                    _ => Some((d as u8).saturating_add(self.multres)),
                };
                let Some(nargs) = nargs else {
                    return Err(self.err("internal error: call without an argument count"));
                };
                let f = self.get(st, a);
                let args: Vec<u8> = (0..nargs)
                    .map(|i| a.saturating_add(2).saturating_add(i))
                    .collect();
                let result = self.call(st, f, &args, pc)?;
                if matches!(ins.op, Op::CALLT | Op::CALLMT) {
                    self.ret(result)?;
                    return Ok(Flow::Return);
                }
                for s in a..st.len() as u8 {
                    self.set(st, s, Val::Undef("it was overwritten by a call"));
                }
                match ins.b {
                    // Multiple results: exactly one, consumed by the next CALLM/RETM.
                    0 => {
                        self.set(st, a, result);
                        self.multres = 1;
                    }
                    nres => {
                        if nres >= 2 {
                            self.set(st, a, result);
                        }
                        for s in 1..nres.saturating_sub(1) {
                            self.set(st, a.saturating_add(s), Val::K(Const::Nil));
                        }
                    }
                }
            }
            Op::RETM => {
                // `return x, f()`: the first value is the program's result.
                let v = self.get(st, a);
                self.ret(v)?;
                return Ok(Flow::Return);
            }
            Op::RET0 => {
                self.ret(Val::K(Const::Nil))?;
                return Ok(Flow::Return);
            }
            Op::RET1 => {
                let v = self.get(st, a);
                self.ret(v)?;
                return Ok(Flow::Return);
            }
            Op::RET => {
                if d < 2 {
                    self.ret(Val::K(Const::Nil))?;
                } else {
                    let v = self.get(st, a);
                    self.ret(v)?;
                }
                return Ok(Flow::Return);
            }
            Op::JMP => return Ok(Flow::Jump(ins.jump_target(pc))),
            // A hint for the JIT marking a `while`/`repeat` loop head: nothing to do.
            Op::LOOP | Op::ILOOP => {}
            Op::UCLO => return Ok(Flow::Jump(ins.jump_target(pc))),
            Op::FUNCF | Op::IFUNCF | Op::JFUNCF | Op::FUNCV | Op::IFUNCV | Op::JFUNCV => {}
            Op::FORI | Op::FORL | Op::IFORL => {
                return Err(self.err(format!(
                    "internal error: {} outside a block end at pc {pc}",
                    ins.op.name()
                )));
            }
            Op::JFORI | Op::JFORL | Op::JLOOP => {
                return Err(self
                    .err("loops are not supported yet")
                    .hint("unroll the loop at the top level of the file, or compute the value outside the program"));
            }
            Op::ITERC | Op::ITERN | Op::ITERL | Op::IITERL | Op::JITERL | Op::ISNEXT => {
                return Err(
                    self.err("`for ... in` iteration is not supported in program functions")
                );
            }
            Op::CAT => {
                // `a .. b .. c` over slots B..C: folded when every part is a constant.
                let mut out = String::new();
                for slot in ins.b..=ins.c {
                    match self.get(st, slot) {
                        Val::K(Const::Str(s)) => out.push_str(&s),
                        Val::K(c @ Const::Num(_)) => match const_int(&c) {
                            Some(k) => out.push_str(&k.to_string()),
                            None => return Err(self.err("cannot concatenate a non-integer number")),
                        },
                        _ => {
                            return Err(self
                                .err("string concatenation at run time is not supported")
                                .hint(
                                    "concatenate constants only, or build strings at the top level",
                                ))
                        }
                    }
                }
                self.set(st, a, Val::K(Const::Str(out)));
            }
            Op::POW => return Err(self.err("`^` (power) is not supported in program functions")),
            Op::LEN => return Err(self.err("`#` (length) is not supported in program functions")),
            Op::TNEW | Op::TDUP => {
                return Err(self
                    .err("tables cannot be created in program functions")
                    .hint("use ffi.new('struct ...') for a stack object, or a bpf.map"))
            }
            Op::FNEW => return Err(self.err("functions cannot be created in program functions")),
            Op::GSET => {
                return Err(self
                    .err("program functions cannot set globals")
                    .hint("use a local or a map"))
            }
            Op::USETV | Op::USETS | Op::USETN | Op::USETP => {
                return Err(self
                    .err("program functions cannot assign upvalues")
                    .hint("use a map to keep state between runs"))
            }
            Op::VARG => return Err(self.err("`...` is not supported in program functions")),
            Op::TSETM => return Err(self.err("tables cannot be created in program functions")),
            Op::TGETR | Op::TSETR => {
                return Err(self.err("raw table access is not supported in program functions"))
            }
            Op::ISTYPE | Op::ISNUM => {
                return Err(self.err("type checks are not supported in program functions"))
            }
            Op::ISLT
            | Op::ISGE
            | Op::ISLE
            | Op::ISGT
            | Op::ISEQV
            | Op::ISNEV
            | Op::ISEQS
            | Op::ISNES
            | Op::ISEQN
            | Op::ISNEN
            | Op::ISEQP
            | Op::ISNEP
            | Op::ISTC
            | Op::ISFC
            | Op::IST
            | Op::ISF => {
                return Err(self.err(format!(
                    "internal error: {} without a following JMP at pc {pc}",
                    ins.op.name()
                )));
            }
            Op::FUNCC | Op::FUNCCW => {
                return Err(self.err("internal error: C function header in a Lua function"))
            }
        }
        Ok(Flow::Next)
    }

    fn ret(&mut self, v: Val) -> LResult<()> {
        let r0 = R::P(Reg::R0);
        match v {
            Val::K(Const::Nil) => self.mov_imm_r(r0, 0),
            other => {
                let o = self.operand(other).map_err(|d| {
                    let msg = d.message.clone();
                    self.err(format!("cannot return this value: {msg}"))
                })?;
                match (o.k, o.v) {
                    (Some(k), _) => self.mov_imm_r(r0, k),
                    (None, Some(v)) => self.e(Insn::Alu64 {
                        op: AluOp::Mov,
                        dst: r0,
                        src: Src::Reg(R::V(v)),
                    }),
                    (None, None) => self.mov_imm_r(r0, 0),
                }
            }
        }
        self.e(Insn::Exit);
        Ok(())
    }
}

/// Control flow after one instruction.
enum Flow {
    Next,
    Jump(isize),
    Return,
}

/// A helper argument.
#[derive(Clone, Copy)]
enum Arg {
    Reg(VReg),
    Imm(i64),
    Stack(i32),
    Map(u32),
    #[allow(dead_code)]
    Ctx,
}

fn negate(c: Cond) -> Cond {
    match c {
        Cond::Known(b) => Cond::Known(!b),
        Cond::Test { op, a, b } => match op.negate() {
            Some(n) => Cond::Test { op: n, a, b },
            None => Cond::Test { op, a, b },
        },
    }
}

/// Replaces every slot holding `from` with `to` (refining a tested value on one edge).
fn refine(st: &mut State, from: &Val, to: Val) {
    for s in st.iter_mut() {
        if s == from {
            *s = to.clone();
        }
    }
}

/// An ALU/JMP source over virtual registers as one over operand registers.
fn rsrc(s: Src<VReg>) -> Src<R> {
    match s {
        Src::Reg(v) => Src::Reg(R::V(v)),
        Src::Imm(i) => Src::Imm(i),
    }
}

/// A number constant as a slot value.
fn num(k: i64) -> Val {
    Val::K(Const::Num(k as f64))
}

fn pri(d: u16) -> Const {
    match d {
        0 => Const::Nil,
        1 => Const::Bool(false),
        _ => Const::Bool(true),
    }
}

fn num_to_int(n: f64) -> Option<i64> {
    if n.fract() == 0.0 && n.is_finite() && n.abs() < 9.3e18 {
        Some(n as i64)
    } else {
        None
    }
}

fn const_int(c: &Const) -> Option<i64> {
    match c {
        Const::Num(n) => num_to_int(*n),
        Const::Int64(v) => Some(*v),
        Const::UInt64(v) => Some(*v as i64),
        Const::Bool(b) => Some(i64::from(*b)),
        _ => None,
    }
}
