//! Bytecode → virtual-register BPF, by abstract interpretation of the Lua slots.
//!
//! Two passes over the basic blocks: the first finds, for each block, what every slot holds on
//! entry (a fixpoint of [`join`]); the second emits code, moving values into each slot's own
//! virtual register on the edges where a successor expects a run-time value there.

use std::collections::BTreeMap;

use crate::bpf::helpers::Helper;
use crate::bpf::insn::{AluOp, Insn, JmpOp, Label, MapId, Reg, Size, Src};
use crate::ctype::{CType, CTypes};
use crate::diag::{Diagnostic, Span};
use crate::lua::bc::{Ins, Op};
use crate::lua::decode::{Const, Proto};
use crate::probe::ProgramKind;
use crate::tracepoint::{TpFieldKind, TracepointFormat};

use super::packet::{Hdr, Next};
use super::value::{Base, Builtin, Ty, Val};
use super::{Code, VReg, R};

/// The BPF stack limit (MAX_BPF_STACK).
pub const MAX_STACK: u32 = 512;

/// A map as lowering sees it.
#[derive(Clone, Debug)]
pub struct MapView {
    /// Its name.
    pub name: String,
    /// The `bpf.map` type string.
    pub kind: String,
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
    /// The code.
    pub code: Code,
    /// Stack bytes used by objects and call buffers (spill slots come after).
    pub stack_bytes: u32,
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
            l.code = Code::default();
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
    l.code = Code::default();
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
        Ok(Lowered {
            code: l.code,
            stack_bytes,
            events: l.events,
        })
    } else {
        Err(l.errors)
    }
}

fn align8(n: u32) -> u32 {
    (n + 7) & !7
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
    code: Code,
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
            code: Code::default(),
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

    fn err(&self, msg: impl Into<String>) -> Diagnostic {
        Diagnostic::new(Span::new(self.env.file, self.line), msg.into())
    }

    fn e(&mut self, insn: Insn<R>) {
        self.code.push(insn, self.line);
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
    fn edge_moves(&mut self, have: &State, want: &State) {
        for (s, w) in want.iter().enumerate() {
            let own = VReg(s as u32);
            let wants_reg = matches!(w, Val::Rt { v, .. } | Val::MapPtr { v, .. } if *v == own);
            if !wants_reg {
                continue;
            }
            let Some(h) = have.get(s) else { continue };
            match h {
                Val::Rt { v, .. } | Val::MapPtr { v, .. } if *v != own => self.mov(own, *v),
                Val::Rt { .. } | Val::MapPtr { .. } => {}
                Val::K(Const::Nil) => self.mov_imm(own, 0),
                Val::K(c) => {
                    if let Some(k) = const_int(c) {
                        self.mov_imm(own, k);
                    }
                }
                Val::Ref { .. } => {
                    if let Ok(o) = self.operand(h.clone()) {
                        self.put_reg(o, own);
                    }
                }
                _ => {}
            }
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
        let off = i16::try_from(off).map_err(|_| self.err("field offset is too large"))?;
        let t = self.tmp();
        self.e(Insn::Ldx {
            size: sz,
            dst: R::V(t),
            src,
            off,
        });
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
                    Op::CALLM => Some(ins.c + self.multres),
                    _ => Some(d as u8 + self.multres),
                };
                let Some(nargs) = nargs else {
                    return Err(self.err("internal error: call without an argument count"));
                };
                let f = self.get(st, a);
                let args: Vec<u8> = (0..nargs).map(|i| a + 2 + i).collect();
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
                            self.set(st, a + s, Val::K(Const::Nil));
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
                return Err(self
                    .err("string concatenation at run time is not supported")
                    .hint("build strings at the top level of the file"))
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

    /// Arithmetic with LuaJIT's typing.
    fn arith(&mut self, op: Op, x: Opnd, y: Opnd) -> LResult<Val> {
        if x.ty == Ty::Bool || y.ty == Ty::Bool {
            return Err(self.err("attempt to perform arithmetic on a boolean value"));
        }
        let ty = Ty::arith(x.ty, y.ty);
        let kind = match op {
            Op::ADDVN | Op::ADDNV | Op::ADDVV => 0,
            Op::SUBVN | Op::SUBNV | Op::SUBVV => 1,
            Op::MULVN | Op::MULNV | Op::MULVV => 2,
            Op::DIVVN | Op::DIVNV | Op::DIVVV => 3,
            _ => 4,
        };
        if let (Some(a), Some(b)) = (x.k, y.k) {
            let r = fold(kind, a, b, ty);
            return Ok(Val::K(match ty {
                Ty::U64 => Const::UInt64(r as u64),
                Ty::I64 => Const::Int64(r),
                _ => Const::Num(r as f64),
            }));
        }
        let t = self.tmp();
        self.put_reg(x, t);
        if kind >= 3 && y.k == Some(0) {
            // The verifier refuses a constant zero divisor; BPF's results are x / 0 = 0 and
            // x % 0 = x.
            if kind == 3 {
                self.mov_imm(t, 0);
            }
            return Ok(Val::Rt { v: t, ty, width: 0 });
        }
        let src = self.src_of(y);
        match kind {
            0 => self.alu(AluOp::Add, t, src),
            1 => self.alu(AluOp::Sub, t, src),
            2 => self.alu(AluOp::Mul, t, src),
            3 => self.alu(
                if ty == Ty::U64 {
                    AluOp::Div
                } else {
                    AluOp::SDiv
                },
                t,
                src,
            ),
            _ => {
                if ty == Ty::U64 {
                    self.alu(AluOp::Mod, t, src);
                } else if ty == Ty::I64 {
                    // int64 cdata: C's remainder, with the sign of the dividend
                    // (lj_carith_modi64), not Lua's floored modulo.
                    self.alu(AluOp::SMod, t, src);
                } else {
                    // Lua's floored modulo: r = a s% b; if r != 0 and (r ^ b) < 0 then r += b.
                    self.alu(AluOp::SMod, t, src);
                    if let (Some(k), Src::Imm(imm)) = (y.k, src) {
                        // A constant divisor: the sign test needs r alone.
                        if k != 0 {
                            let done = self.code.label();
                            let op = if k > 0 { JmpOp::Jsge } else { JmpOp::Jsle };
                            self.e(Insn::Jmp {
                                op,
                                dst: R::V(t),
                                src: Src::Imm(0),
                                target: done,
                            });
                            self.alu(AluOp::Add, t, Src::Imm(imm));
                            self.code.bind(done);
                        }
                        return Ok(Val::Rt { v: t, ty, width: 0 });
                    }
                    let b = self.reg_of(y);
                    let done = self.code.label();
                    self.e(Insn::Jmp {
                        op: JmpOp::Jeq,
                        dst: R::V(t),
                        src: Src::Imm(0),
                        target: done,
                    });
                    let s = self.tmp();
                    self.mov(s, t);
                    self.alu(AluOp::Xor, s, Src::Reg(b));
                    self.e(Insn::Jmp {
                        op: JmpOp::Jsge,
                        dst: R::V(s),
                        src: Src::Imm(0),
                        target: done,
                    });
                    self.alu(AluOp::Add, t, Src::Reg(b));
                    self.code.bind(done);
                }
            }
        }
        Ok(Val::Rt { v: t, ty, width: 0 })
    }

    /// Bit operations with LuaJIT's rules: 32-bit on numbers (result sign-extended), 64-bit
    /// if any operand is 64-bit cdata (shift counts masked to 31 / 63).
    fn bitop(&mut self, op: Builtin, args: &[Opnd]) -> LResult<Val> {
        if args.is_empty() {
            return Err(self.err(format!("{} needs an argument", op.name())));
        }
        if args.iter().any(|a| a.ty == Ty::Bool) {
            return Err(self.err(format!(
                "bad argument to {}: number expected, got boolean",
                op.name()
            )));
        }
        let shift = matches!(
            op,
            Builtin::BitLshift | Builtin::BitRshift | Builtin::BitArshift
        );
        let ty = if shift {
            args[0].ty
        } else {
            args.iter().fold(Ty::Num, |t, a| Ty::arith(t, a.ty))
        };
        let wide = ty != Ty::Num;
        if shift && args.len() != 2 {
            return Err(self.err(format!("{} takes two arguments", op.name())));
        }
        // Constant folding.
        if args.iter().all(|a| a.k.is_some()) {
            let ks: Vec<i64> = args.iter().filter_map(|a| a.k).collect();
            let r = fold_bit(op, &ks, wide);
            return Ok(Val::K(match ty {
                Ty::U64 => Const::UInt64(r as u64),
                Ty::I64 => Const::Int64(r),
                _ => Const::Num(r as f64),
            }));
        }
        let t = self.tmp();
        self.put_reg(args[0], t);
        let alu = |l: &mut Self, o: AluOp, src: Src<VReg>| {
            if wide {
                l.alu(o, t, src)
            } else {
                l.alu32(o, t, src)
            }
        };
        match op {
            Builtin::BitTobit => {}
            Builtin::BitBnot => alu(self, AluOp::Xor, Src::Imm(-1)),
            Builtin::BitBand | Builtin::BitBor | Builtin::BitBxor => {
                let o = match op {
                    Builtin::BitBand => AluOp::And,
                    Builtin::BitBor => AluOp::Or,
                    _ => AluOp::Xor,
                };
                for a in &args[1..] {
                    let src = self.src_of(*a);
                    alu(self, o, src);
                }
            }
            _ => {
                let o = match op {
                    Builtin::BitLshift => AluOp::Lsh,
                    Builtin::BitRshift => AluOp::Rsh,
                    _ => AluOp::Arsh,
                };
                let mask = if wide { 63 } else { 31 };
                let count = args[1];
                let src = match count.k {
                    Some(k) => Src::Imm((k & mask) as i32),
                    None => {
                        let c = self.tmp();
                        self.put_reg(count, c);
                        self.alu(AluOp::And, c, Src::Imm(mask as i32));
                        Src::Reg(c)
                    }
                };
                alu(self, o, src);
            }
        }
        if !wide {
            self.e(Insn::Sext32 { dst: R::V(t) });
        }
        Ok(Val::Rt { v: t, ty, width: 0 })
    }

    /// The truthiness of a value as a condition that holds when it is truthy.
    fn truth(&mut self, v: Val) -> LResult<Cond> {
        Ok(match v {
            Val::K(Const::Nil) | Val::K(Const::Bool(false)) => Cond::Known(false),
            Val::K(_)
            | Val::Fn(_)
            | Val::Ctx
            | Val::Stack { .. }
            | Val::Pkt { .. }
                        | Val::Slice { .. }
            | Val::DataLoc { .. }
            // cdata pointers are true in LuaJIT, even NULL ones (compare with nil for that).
            | Val::Ptr { .. } => Cond::Known(true),
            Val::Rt {
                ty: Ty::Bool, v, ..
            } => Cond::Test {
                op: JmpOp::Jne,
                a: v,
                b: Src::Imm(0),
            },
            Val::Rt { .. } => Cond::Known(true),
            Val::MapPtr {
                nullable: false, ..
            } => Cond::Known(true),
            Val::MapPtr { v, .. } => Cond::Test {
                op: JmpOp::Jne,
                a: v,
                b: Src::Imm(0),
            },
            Val::Ref { ref ty, .. } => {
                if *ty == CType::Bool {
                    let o = self.operand(v)?;
                    let r = self.reg_of(o);
                    Cond::Test {
                        op: JmpOp::Jne,
                        a: r,
                        b: Src::Imm(0),
                    }
                } else {
                    Cond::Known(true)
                }
            }
            Val::Undef(why) => return Err(self.undefined(why)),
        })
    }

    /// FORI/FORL of `for i = start, stop, step`: slot A is the index, A+1 the limit, A+2 the
    /// step (a constant here, so the direction is known), A+3 the loop variable. FORI jumps
    /// past the loop when it does not run; FORL adds the step and jumps back while it runs.
    /// Returns the condition for the jump and the states on the jump and fall-through edges.
    fn for_loop(&mut self, st: &mut State, ins: Ins) -> LResult<(Cond, State, State)> {
        let a = ins.a;
        let step = match self.get(st, a + 2) {
            Val::K(c) => const_int(&c).filter(|k| *k != 0),
            _ => None,
        }
        .ok_or_else(|| {
            self.err("the step of a numeric for loop must be a nonzero integer constant")
        })?;
        if ins.op != Op::FORI {
            let idx = self.operand(self.get(st, a))?;
            let next = self.arith(
                Op::ADDVV,
                idx,
                Opnd {
                    k: Some(step),
                    v: None,
                    ty: Ty::Num,
                    width: 0,
                },
            )?;
            self.set(st, a, next);
        }
        let idx = self.operand(self.get(st, a))?;
        let stop = self.operand(self.get(st, a + 1))?;
        if idx.ty != Ty::Num || stop.ty != Ty::Num {
            return Err(self.err("numeric for loops count with numbers, not cdata or booleans"));
        }
        let idx_val = self.get(st, a);
        let mut body = st.clone();
        self.set(&mut body, a + 3, idx_val);
        if ins.op == Op::FORI {
            // Jump past the loop when it does not run at all.
            let op = if step > 0 { JmpOp::Jsgt } else { JmpOp::Jslt };
            Ok((self.compare(op, idx, stop), st.clone(), body))
        } else {
            // Jump back while it still runs.
            let op = if step > 0 { JmpOp::Jsle } else { JmpOp::Jsge };
            Ok((self.compare(op, idx, stop), body, st.clone()))
        }
    }

    /// A comparison or test; returns the condition and the states on the taken and fall edges.
    fn branch(&mut self, st: &mut State, ins: Ins) -> LResult<(Cond, State, State)> {
        let a = self.get(st, ins.a);
        let d = ins.d;
        let mut taken = st.clone();
        let mut fall = st.clone();
        let cond = match ins.op {
            Op::IST | Op::ISF | Op::ISTC | Op::ISFC => {
                let v = self.get(st, d as u8);
                let c = self.truth(v.clone())?;
                let want_true = matches!(ins.op, Op::IST | Op::ISTC);
                if matches!(ins.op, Op::ISTC | Op::ISFC) {
                    self.set(&mut taken, ins.a, v.clone());
                }
                // Refine a nullable map value on both edges.
                if let Val::MapPtr {
                    v: r,
                    map,
                    ty,
                    nullable: true,
                } = &v
                {
                    let nonnull = Val::MapPtr {
                        v: *r,
                        map: *map,
                        ty: ty.clone(),
                        nullable: false,
                    };
                    let (t, f) = if want_true {
                        (&mut taken, &mut fall)
                    } else {
                        (&mut fall, &mut taken)
                    };
                    refine(t, &v, nonnull.clone());
                    refine(f, &v, Val::K(Const::Nil));
                }
                if want_true {
                    c
                } else {
                    negate(c)
                }
            }
            Op::ISEQP | Op::ISNEP => {
                let p = pri(d);
                let c = self.equal(a.clone(), Val::K(p.clone()))?;
                if let (
                    Val::MapPtr {
                        v: r,
                        map,
                        ty,
                        nullable: true,
                    },
                    Const::Nil,
                ) = (&a, &p)
                {
                    let nonnull = Val::MapPtr {
                        v: *r,
                        map: *map,
                        ty: ty.clone(),
                        nullable: false,
                    };
                    let (isnil, notnil) = if ins.op == Op::ISEQP {
                        (&mut taken, &mut fall)
                    } else {
                        (&mut fall, &mut taken)
                    };
                    refine(isnil, &a, Val::K(Const::Nil));
                    refine(notnil, &a, nonnull);
                }
                if ins.op == Op::ISEQP {
                    c
                } else {
                    negate(c)
                }
            }
            Op::ISEQS | Op::ISNES => {
                let s = self.kstr(d)?;
                let c = match &a {
                    Val::K(Const::Str(x)) => Cond::Known(*x == s),
                    Val::Slice { .. } | Val::Ref { .. } => {
                        self.equal_bytes(a.clone(), s.as_bytes())?
                    }
                    Val::K(_) | Val::Rt { .. } | Val::MapPtr { .. } => Cond::Known(false),
                    other => {
                        return Err(
                            self.err(format!("cannot compare {} with a string", other.describe()))
                        )
                    }
                };
                if ins.op == Op::ISEQS {
                    c
                } else {
                    negate(c)
                }
            }
            Op::ISEQN | Op::ISNEN => {
                let k = self.knum(d)?;
                let c = self.equal(a, Val::K(Const::Num(k as f64)))?;
                if ins.op == Op::ISEQN {
                    c
                } else {
                    negate(c)
                }
            }
            Op::ISEQV | Op::ISNEV => {
                let b = self.get(st, d as u8);
                let c = self.equal(a, b)?;
                if ins.op == Op::ISEQV {
                    c
                } else {
                    negate(c)
                }
            }
            Op::ISLT | Op::ISGE | Op::ISLE | Op::ISGT => {
                let x = self.operand(a)?;
                let y = self.operand(self.get(st, d as u8))?;
                if x.ty == Ty::Bool || y.ty == Ty::Bool {
                    return Err(self.err("attempt to compare a boolean value"));
                }
                let unsigned = Ty::arith(x.ty, y.ty) == Ty::U64;
                // ISGE means `not (a < b)`, ISGT `not (a <= b)`: for integers the same as >=, >.
                let op = match (ins.op, unsigned) {
                    (Op::ISLT, false) => JmpOp::Jslt,
                    (Op::ISGE, false) => JmpOp::Jsge,
                    (Op::ISLE, false) => JmpOp::Jsle,
                    (Op::ISGT, false) => JmpOp::Jsgt,
                    (Op::ISLT, true) => JmpOp::Jlt,
                    (Op::ISGE, true) => JmpOp::Jge,
                    (Op::ISLE, true) => JmpOp::Jle,
                    (_, true) => JmpOp::Jgt,
                    (_, false) => JmpOp::Jsgt,
                };
                self.compare(op, x, y)
            }
            other => {
                return Err(self.err(format!(
                    "internal error: {} is not a condition",
                    other.name()
                )))
            }
        };
        Ok((cond, taken, fall))
    }

    fn compare(&mut self, op: JmpOp, x: Opnd, y: Opnd) -> Cond {
        if let (Some(a), Some(b)) = (x.k, y.k) {
            return Cond::Known(op.eval(a, b));
        }
        let a = self.reg_of(x);
        let b = self.src_of(y);
        Cond::Test { op, a, b }
    }

    /// `a == b` with Lua's rules: values of different kinds are never equal.
    fn equal(&mut self, a: Val, b: Val) -> LResult<Cond> {
        let is_nil = |v: &Val| matches!(v, Val::K(Const::Nil));
        match (&a, &b) {
            // A NULL cdata pointer equals nil in LuaJIT.
            (Val::Ptr { v, .. }, x) | (x, Val::Ptr { v, .. }) if is_nil(x) => Ok(Cond::Test {
                op: JmpOp::Jeq,
                a: *v,
                b: Src::Imm(0),
            }),
            (Val::MapPtr { v, nullable, .. }, x) | (x, Val::MapPtr { v, nullable, .. })
                if is_nil(x) =>
            {
                if *nullable {
                    Ok(Cond::Test {
                        op: JmpOp::Jeq,
                        a: *v,
                        b: Src::Imm(0),
                    })
                } else {
                    Ok(Cond::Known(false))
                }
            }
            (Val::K(x), Val::K(y)) if const_int(x).is_none() || const_int(y).is_none() => {
                Ok(Cond::Known(x == y))
            }
            (Val::K(Const::Nil), _) | (_, Val::K(Const::Nil)) => Ok(Cond::Known(false)),
            (Val::K(Const::Bool(_)), Val::Rt { ty, .. })
            | (Val::Rt { ty, .. }, Val::K(Const::Bool(_)))
                if *ty != Ty::Bool =>
            {
                Ok(Cond::Known(false))
            }
            _ => {
                let x = self.operand(a)?;
                let y = self.operand(b)?;
                if (x.ty == Ty::Bool) != (y.ty == Ty::Bool) {
                    return Ok(Cond::Known(false));
                }
                Ok(self.compare(JmpOp::Jeq, x, y))
            }
        }
    }

    /// A global name inside a program function.
    fn global(&self, name: &str) -> LResult<Val> {
        Ok(match name {
            "xadd" => Val::Fn(Builtin::Xadd),
            "time" => Val::Fn(Builtin::Time),
            "cpu" => Val::Fn(Builtin::Cpu),
            "pid_tgid" => Val::Fn(Builtin::PidTgid),
            "uid_gid" => Val::Fn(Builtin::UidGid),
            "comm" => Val::Fn(Builtin::Comm),
            "rand" => Val::Fn(Builtin::Rand),
            "ntoh" => Val::Fn(Builtin::Ntoh),
            "hton" => Val::Fn(Builtin::Hton),
            "print" => Val::Fn(Builtin::Print),
            "bit" | "ffi" | "math" => Val::K(Const::Lib(name.to_string())),
            "skb" if matches!(self.env.kind, ProgramKind::SocketFilter { .. }) => Val::Ctx,
            "pkt" | "eth" if matches!(self.env.kind, ProgramKind::SocketFilter { .. }) => {
                Val::Pkt {
                    hdr: Hdr::Eth,
                    off: 0,
                    dynoff: None,
                }
            }
            "pkt" | "eth" | "skb" => {
                return Err(self.err(format!("`{name}` is only available in socket filters")));
            }
            "perf_submit" => Val::Fn(Builtin::PerfSubmit),
            "ringbuf_output" => Val::Fn(Builtin::RingbufOutput),
            "stack_id" => Val::Fn(Builtin::StackId),
            "load_bytes" if matches!(self.env.kind, ProgramKind::SocketFilter { .. }) => {
                Val::Fn(Builtin::LoadBytes)
            }
            "load_bytes" => {
                return Err(self.err("`load_bytes` is only available in socket filters"))
            }
            "c" => Val::K(super::consts::protocol()),
            "BPF" => Val::K(super::consts::bpf_flags()),
            "pairs" | "ipairs" | "next" => {
                return Err(
                    self.err("`for ... in` iteration is not supported in program functions")
                );
            }
            _ => {
                return Err(self
                    .err(format!("unknown global `{name}` in a program function"))
                    .hint("program functions see builtins (xadd, time, pid_tgid, comm, bit, ffi, ...) and the file's locals as upvalues"));
            }
        })
    }

    /// `obj.key`.
    fn index_str(&mut self, obj: Val, key: &str) -> LResult<Val> {
        match obj {
            Val::K(Const::Lib(lib)) => {
                let b = match (lib.as_str(), key) {
                    ("bit", "band") => Builtin::BitBand,
                    ("bit", "bor") => Builtin::BitBor,
                    ("bit", "bxor") => Builtin::BitBxor,
                    ("bit", "bnot") => Builtin::BitBnot,
                    ("bit", "lshift") => Builtin::BitLshift,
                    ("bit", "rshift") => Builtin::BitRshift,
                    ("bit", "arshift") => Builtin::BitArshift,
                    ("bit", "tobit") => Builtin::BitTobit,
                    ("ffi", "new") => Builtin::FfiNew,
                    ("ffi", "sizeof") => Builtin::FfiSizeof,
                    ("ffi", "cast") => Builtin::FfiCast,
                    ("ffi", "copy") => Builtin::FfiCopy,
                    ("math", "log2") => Builtin::MathLog2,
                    ("math", "log10") => Builtin::MathLog10,
                    ("math", "log") => Builtin::MathLog,
                    ("ffi", "string" | "fill") => {
                        return Err(self.err(format!("`{lib}.{key}` is not supported yet")))
                    }
                    _ => {
                        return Err(self.err(format!(
                            "`{lib}.{key}` is not available in program functions"
                        )))
                    }
                };
                Ok(Val::Fn(b))
            }
            Val::K(Const::Table(fields)) => Ok(fields
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| Val::K(v.clone()))
                .unwrap_or(Val::K(Const::Nil))),
            Val::Ctx => self.ctx_field(key),
            Val::Stack { off, ty } => self.field(Base::Stack(off), 0, &ty, key),
            Val::MapPtr {
                v, ty, nullable, ..
            } => {
                if nullable {
                    return Err(self
                        .err(format!(
                            "this map value may be nil here, so `.{key}` may fail"
                        ))
                        .hint("guard it: `local v = m[k]; if v then ... v.field ... end`"));
                }
                self.field(Base::Map(v), 0, &ty, key)
            }
            Val::Ref { base, off, ty } => self.field(base, off, &ty, key),
            Val::Ptr { v, pointee } => {
                let Some(f) = pointee.field(key) else {
                    if let CType::Opaque { .. } = pointee {
                        return Err(self
                            .err(format!("{} is an incomplete type: its fields are unknown", pointee.c_name()))
                            .hint("declare the struct with ffi.cdef (the fields you read, at their kernel offsets)"));
                    }
                    return Err(self.err(format!("{} has no field `{key}`", pointee.c_name())));
                };
                if f.bits.is_some() {
                    return Err(self.err(format!("bit field `{key}` is not supported yet")));
                }
                self.deref(v, f.offset as i32, &f.ty)
            }
            Val::Pkt { hdr, off, dynoff } => self.pkt_index(hdr, off, dynoff, key),
            other => Err(self.err(format!(
                "attempt to index {} with `{key}`",
                other.describe()
            ))),
        }
    }

    fn field(&mut self, base: Base, off: i32, ty: &CType, key: &str) -> LResult<Val> {
        let Some(f) = ty.field(key) else {
            let hint = match ty.as_struct() {
                Some(s) => format!("its fields are: {}", s.field_names().join(", ")),
                None => "only structs have fields".to_string(),
            };
            return Err(self
                .err(format!("{} has no field `{key}`", ty.c_name()))
                .hint(hint));
        };
        if f.bits.is_some() {
            return Err(self.err(format!("bit field `{key}` is not supported yet")));
        }
        Ok(Val::Ref {
            base,
            off: off + f.offset as i32,
            ty: f.ty.clone(),
        })
    }

    fn ctx_field(&mut self, key: &str) -> LResult<Val> {
        match self.env.kind {
            ProgramKind::Tracepoint { category, name } => {
                let Some(tp) = self.env.tracepoint else {
                    return Err(self.err(format!("tracepoint {category}/{name} has no format")));
                };
                let Some(f) = tp.field(key) else {
                    return Err(self.err(tp.unknown_field_message(key)));
                };
                // The kernel hides the first 8 bytes of a tracepoint record from BPF
                // (kernel/trace/bpf_trace.c, tp_prog_is_valid_access).
                if f.offset < 8 {
                    return Err(self
                        .err(format!(
                            "field `{key}` (offset {}) is in the record header, which BPF programs cannot read",
                            f.offset
                        ))
                        .hint("use pid_tgid() for the pid and tgid"));
                }
                let ty = match f.kind {
                    TpFieldKind::Int => CType::Int {
                        size: f.size as u8,
                        signed: f.signed,
                        is_char: false,
                    },
                    // Kept as a pointer so that ffi.copy knows a `char *` is a string.
                    TpFieldKind::Pointer => CType::Pointer(Box::new(if f.decl.contains("char") {
                        CType::Int {
                            size: 1,
                            signed: false,
                            is_char: true,
                        }
                    } else {
                        CType::Void
                    })),
                    TpFieldKind::Array {
                        elem_size,
                        len,
                        elem_signed,
                        is_char,
                    } => CType::Array(
                        Box::new(CType::Int {
                            size: elem_size as u8,
                            signed: elem_signed,
                            is_char,
                        }),
                        len,
                    ),
                    TpFieldKind::DataLoc { is_char } | TpFieldKind::RelLoc { is_char } => {
                        return Ok(Val::DataLoc {
                            off: f.offset as i32,
                            rel: matches!(f.kind, TpFieldKind::RelLoc { .. }),
                            is_char,
                        });
                    }
                    TpFieldKind::Other => {
                        return Err(
                            self.err(format!("field `{key}` ({}) cannot be read yet", f.decl))
                        );
                    }
                };
                Ok(Val::Ref {
                    base: Base::Ctx,
                    off: f.offset as i32,
                    ty,
                })
            }
            ProgramKind::SocketFilter { .. } => match skb_field(key) {
                Some(off) => Ok(Val::Ref {
                    base: Base::Ctx,
                    off,
                    ty: CType::Int {
                        size: 4,
                        signed: false,
                        is_char: false,
                    },
                }),
                None => Err(self.err(format!(
                    "struct __sk_buff has no field `{key}` readable by socket filters"
                ))),
            },
            ProgramKind::Kprobe { .. } | ProgramKind::Uprobe { .. } => match pt_regs_field(key) {
                Some(off) => Ok(Val::Ref {
                    base: Base::Ctx,
                    off,
                    ty: CType::Int {
                        size: 8,
                        signed: false,
                        is_char: false,
                    },
                }),
                None => Err(self.err(format!("struct pt_regs has no field `{key}`"))),
            },
        }
    }

    /// What `*(T *)(ptr + off)` gives: a scalar read with probe-read, a pointer to follow, or
    /// the address of an inner struct or array.
    fn deref(&mut self, ptr: VReg, off: i32, ty: &CType) -> LResult<Val> {
        let addr = if off == 0 {
            ptr
        } else {
            let t = self.tmp();
            self.mov(t, ptr);
            self.alu(AluOp::Add, t, Src::Imm(off));
            t
        };
        let ty = self.env.ctypes.resolve(ty);
        match &ty {
            CType::Struct(_) | CType::Array(..) => Ok(Val::Ptr {
                v: addr,
                pointee: ty,
            }),
            CType::Pointer(_) | CType::Int { .. } | CType::Bool => {
                let size = ty.size();
                let buf = self.scratch(0, align8(size));
                let helper = if matches!(self.env.kind, ProgramKind::Uprobe { .. }) {
                    Helper::ProbeReadUser
                } else {
                    Helper::ProbeReadKernel
                };
                self.call_helper(
                    helper,
                    &[Arg::Stack(buf), Arg::Imm(i64::from(size)), Arg::Reg(addr)],
                );
                let o = self.load(Base::Stack(buf), 0, &ty)?;
                let v = self.reg_of(o);
                match ty {
                    CType::Pointer(p) => Ok(Val::Ptr {
                        v,
                        pointee: self.env.ctypes.resolve(&p),
                    }),
                    _ => Ok(Val::Rt {
                        v,
                        ty: o.ty,
                        width: o.width,
                    }),
                }
            }
            other => Err(self.err(format!(
                "cannot read a value of type {} through a pointer",
                other.c_name()
            ))),
        }
    }

    /// `obj[key]` for a non-string key.
    fn index(&mut self, obj: Val, key: Val) -> LResult<Val> {
        match obj {
            Val::Ptr { v, pointee } => {
                // p[i]: element i of what p points at (an array or a single object).
                let elem = match &pointee {
                    CType::Array(e, _) => (**e).clone(),
                    other => other.clone(),
                };
                let i = self.operand(key)?;
                let Some(i) = i.k else {
                    return Err(self.err("pointers can only be indexed by constants yet"));
                };
                let off = i32::try_from(i * i64::from(elem.size()))
                    .map_err(|_| self.err("pointer index out of range"))?;
                self.deref(v, off, &elem)
            }
            Val::K(Const::Map(id)) => self.map_lookup(id, key),
            Val::K(Const::Table(fields)) => {
                let k = match &key {
                    Val::K(Const::Num(n)) => n.to_string(),
                    _ => {
                        return Err(
                            self.err("a compile-time table can only be indexed by constants")
                        )
                    }
                };
                Ok(fields
                    .iter()
                    .find(|(x, _)| *x == k)
                    .map(|(_, v)| Val::K(v.clone()))
                    .unwrap_or(Val::K(Const::Nil)))
            }
            Val::Ref { base, off, ty } => self.element(base, off, &ty, key),
            Val::Stack { off, ty } => self.element(Base::Stack(off), 0, &ty, key),
            Val::MapPtr {
                v,
                ty,
                nullable: false,
                ..
            } => self.element(Base::Map(v), 0, &ty, key),
            Val::Pkt {
                hdr: _,
                off,
                dynoff,
            } => {
                // d[i]: a constant index folds into the offset, a run-time one into LD_IND's
                // index register.
                let moved = self.pkt_add(
                    Val::Pkt {
                        hdr: Hdr::Data,
                        off,
                        dynoff,
                    },
                    key,
                )?;
                let Val::Pkt { off, dynoff, .. } = moved else {
                    return Err(self.err("internal error: moved dissector"));
                };
                let v = self.pkt_load(off, 1, dynoff)?;
                Ok(Val::Rt {
                    v,
                    ty: Ty::Num,
                    width: 1,
                })
            }
            other => Err(self.err(format!("attempt to index {}", other.describe()))),
        }
    }

    fn element(&mut self, base: Base, off: i32, ty: &CType, key: Val) -> LResult<Val> {
        // A map value is a pointer: `v[0]` is the value itself, as for an ffi pointer.
        if let (Base::Map(_), 0, Some(_)) = (&base, off, scalar_ty(ty)) {
            if self.operand(key.clone())?.k == Some(0) {
                return Ok(Val::Ref {
                    base,
                    off,
                    ty: ty.clone(),
                });
            }
        }
        let CType::Array(elem, len) = ty else {
            return Err(self.err(format!(
                "attempt to index a value of type {} with a number",
                ty.c_name()
            )));
        };
        let o = self.operand(key)?;
        let Some(i) = o.k else {
            return Err(self
                .err("arrays can only be indexed by constants yet")
                .hint("use a constant index"));
        };
        if i < 0 || (*len > 0 && i >= i64::from(*len)) {
            return Err(self.err(format!("index {i} is out of bounds of {}", ty.c_name())));
        }
        Ok(Val::Ref {
            base,
            off: off + (i as i32) * elem.size() as i32,
            ty: (**elem).clone(),
        })
    }

    /// Writes `val` into a stack buffer of C type `ty` at `r10 - off` (scalars and copies).
    fn store_to(&mut self, base: Base, off: i32, ty: &CType, val: Val) -> LResult<()> {
        let (dst, off) = match base {
            Base::Ctx => return Err(self.err("the program context is read-only")),
            Base::Stack(o) => (R::P(Reg::R10), off - o),
            Base::Map(v) => (R::V(v), off),
        };
        let off16 = i16::try_from(off).map_err(|_| self.err("offset is too large"))?;
        if scalar_ty(ty).is_none() {
            return Err(self.err(format!(
                "cannot assign to a value of type {} as a whole yet",
                ty.c_name()
            )));
        }
        let size = Size::from_bytes(ty.size()).ok_or_else(|| self.err("unsupported field size"))?;
        let o = match val {
            Val::K(Const::Nil) => return Err(self.err("cannot store nil into a field")),
            Val::K(Const::Bool(b)) => Opnd {
                k: Some(i64::from(b)),
                v: None,
                ty: Ty::Bool,
                width: 0,
            },
            v => self.operand(v)?,
        };
        if o.ty == Ty::Bool && *ty != CType::Bool {
            return Err(self.err(format!(
                "cannot store a boolean into a field of type {}",
                ty.c_name()
            )));
        }
        match o.k {
            Some(k) if i32::try_from(k).is_ok() => {
                self.e(Insn::St {
                    size,
                    dst,
                    off: off16,
                    imm: k as i32,
                });
            }
            _ => {
                let r = self.reg_of(o);
                self.e(Insn::Stx {
                    size,
                    dst,
                    src: R::V(r),
                    off: off16,
                });
            }
        }
        Ok(())
    }

    fn store_str(&mut self, obj: Val, key: &str, val: Val) -> LResult<()> {
        let target = match obj {
            Val::Ctx => {
                return Err(self.err(format!(
                    "cannot assign `{key}`: the program context is read-only"
                )))
            }
            o @ (Val::Stack { .. } | Val::MapPtr { .. } | Val::Ref { .. }) => {
                self.index_str(o, key)?
            }
            other => {
                return Err(self.err(format!(
                    "attempt to assign field `{key}` of {}",
                    other.describe()
                )))
            }
        };
        self.store_ref(target, val)
    }

    fn store_ref(&mut self, target: Val, val: Val) -> LResult<()> {
        match target {
            Val::Ref { base, off, ty } => self.store_to(base, off, &ty, val),
            other => Err(self.err(format!("cannot assign to {}", other.describe()))),
        }
    }

    fn store(&mut self, obj: Val, key: Val, val: Val) -> LResult<()> {
        match obj {
            Val::K(Const::Map(id)) => self.map_update(id, key, val),
            o @ (Val::Stack { .. } | Val::Ref { .. } | Val::MapPtr { .. }) => {
                let target = self.index(o, key)?;
                self.store_ref(target, val)
            }
            other => Err(self.err(format!(
                "attempt to assign an element of {}",
                other.describe()
            ))),
        }
    }

    fn map(&self, id: u32) -> LResult<&'a MapView> {
        self.env
            .maps
            .get(id as usize)
            .ok_or_else(|| self.err("internal error: unknown map"))
    }

    /// Reserves the shared call buffer: `size` bytes at its `at` offset; returns the r10 offset.
    fn scratch(&mut self, at: u32, size: u32) -> i32 {
        self.scratch_need = self.scratch_need.max(at + size);
        self.scratch_base - at as i32
    }

    /// Puts a key or value into memory for a map helper and returns its stack offset.
    fn buffer(&mut self, at: u32, ty: &CType, val: Val, what: &str) -> LResult<i32> {
        if let Val::Stack { off, ty: vty } = &val {
            if vty.size() == ty.size() && vty.c_name() == ty.c_name() {
                return Ok(*off);
            }
            return Err(self.err(format!(
                "wrong {what} type: the map wants {}, got {}",
                ty.c_name(),
                vty.c_name()
            )));
        }
        if scalar_ty(ty).is_none() {
            let hint = if what == "key" {
                format!("local k = ffi.new('{}'); k.field = ...; m[k]", ty.c_name())
            } else {
                format!(
                    "local v = ffi.new('{}'); v.field = ...; m[k] = v",
                    ty.c_name()
                )
            };
            return Err(self
                .err(format!(
                    "the map's {what} is a {}: pass an ffi.new object of that type",
                    ty.c_name()
                ))
                .hint(hint));
        }
        if let Val::K(Const::Bool(_)) | Val::Rt { ty: Ty::Bool, .. } = val {
            if *ty != CType::Bool {
                return Err(self.err(format!(
                    "a boolean cannot be used as a map {what} of type {}",
                    ty.c_name()
                )));
            }
        }
        let off = self.scratch(at, align8(ty.size()));
        self.store_to(Base::Stack(off), 0, ty, val)?;
        Ok(off)
    }

    fn map_lookup(&mut self, id: u32, key: Val) -> LResult<Val> {
        let m = self.map(id)?;
        if !matches!(
            m.kind.as_str(),
            "hash" | "array" | "percpu_hash" | "percpu_array" | "lru_hash" | "lru_percpu_hash"
        ) {
            return Err(self.err(format!(
                "map `{}` of type {} cannot be read with m[k]",
                m.name, m.kind
            )));
        }
        let koff = self.buffer(0, &m.key, key, "key")?;
        let r = self.call_helper(Helper::MapLookupElem, &[Arg::Map(id), Arg::Stack(koff)]);
        Ok(Val::MapPtr {
            v: r,
            map: id,
            ty: m.value.clone(),
            nullable: true,
        })
    }

    fn map_update(&mut self, id: u32, key: Val, val: Val) -> LResult<()> {
        let m = self.map(id)?;
        if !matches!(
            m.kind.as_str(),
            "hash" | "array" | "percpu_hash" | "percpu_array" | "lru_hash" | "lru_percpu_hash"
        ) {
            return Err(self.err(format!(
                "map `{}` of type {} cannot be assigned with m[k] = v",
                m.name, m.kind
            )));
        }
        let koff = self.buffer(0, &m.key, key, "key")?;
        if val == Val::K(Const::Nil) {
            if m.kind.contains("array") {
                return Err(self
                    .err(format!("cannot delete from array map `{}`", m.name))
                    .hint("store 0 instead"));
            }
            self.call_helper(Helper::MapDeleteElem, &[Arg::Map(id), Arg::Stack(koff)]);
            return Ok(());
        }
        let voff = match &val {
            Val::MapPtr {
                v,
                ty,
                nullable: false,
                ..
            } if scalar_ty(ty).is_none() => {
                // A struct value from another lookup: pass its pointer.
                let v = *v;
                self.call_helper(
                    Helper::MapUpdateElem,
                    &[Arg::Map(id), Arg::Stack(koff), Arg::Reg(v), Arg::Imm(0)],
                );
                return Ok(());
            }
            _ => self.buffer(align8(m.key.size()), &m.value, val, "value")?,
        };
        self.call_helper(
            Helper::MapUpdateElem,
            &[
                Arg::Map(id),
                Arg::Stack(koff),
                Arg::Stack(voff),
                Arg::Imm(0),
            ],
        );
        Ok(())
    }

    /// Emits a helper call; returns the register holding its result.
    fn call_helper(&mut self, h: Helper, args: &[Arg]) -> VReg {
        for (i, a) in args.iter().enumerate() {
            let r = R::P(Reg(i as u8 + 1));
            match *a {
                Arg::Reg(v) => self.e(Insn::Alu64 {
                    op: AluOp::Mov,
                    dst: r,
                    src: Src::Reg(R::V(v)),
                }),
                Arg::Imm(k) => self.mov_imm_r(r, k),
                Arg::Stack(off) => {
                    self.e(Insn::Alu64 {
                        op: AluOp::Mov,
                        dst: r,
                        src: Src::Reg(R::P(Reg::R10)),
                    });
                    self.e(Insn::Alu64 {
                        op: AluOp::Add,
                        dst: r,
                        src: Src::Imm(-off),
                    });
                }
                Arg::Map(id) => self.e(Insn::LdMap {
                    dst: r,
                    map: MapId(id),
                }),
                Arg::Ctx => self.e(Insn::Alu64 {
                    op: AluOp::Mov,
                    dst: r,
                    src: Src::Reg(R::P(Reg::R6)),
                }),
            }
        }
        self.e(Insn::Call { helper: h });
        let t = self.tmp();
        self.e(Insn::Alu64 {
            op: AluOp::Mov,
            dst: R::V(t),
            src: Src::Reg(R::P(Reg::R0)),
        });
        t
    }

    /// Calls a builtin; returns its result.
    fn call(&mut self, st: &mut State, f: Val, args: &[u8], pc: usize) -> LResult<Val> {
        if let Val::Pkt { off, dynoff, .. } = f {
            // d(a, b): bytes a..b-1 of the dissector.
            let argv: Vec<Val> = args.iter().map(|&s| self.get(st, s)).collect();
            let bounds: Vec<Option<i64>> = argv
                .iter()
                .map(|v| match v {
                    Val::K(c) => const_int(c),
                    _ => None,
                })
                .collect();
            let (Some(Some(a)), Some(Some(b))) = (bounds.first(), bounds.get(1)) else {
                return Err(self.err("a packet slice d(a, b) needs two constant offsets"));
            };
            if b <= a || b - a > 64 {
                return Err(self.err(format!("bad packet slice ({a}, {b}): want 0 < b - a <= 64")));
            }
            return Ok(Val::Slice {
                off: off + *a as i32,
                dynoff,
                len: (b - a) as u32,
            });
        }
        let Val::Fn(b) = f else {
            let what = match &f {
                Val::K(Const::Other(o)) if o == "a function" => {
                    "a Lua function of the file: program functions can only call builtins (xadd, time, bit.*, ffi.new, ...)".to_string()
                }
                other => other.describe(),
            };
            return Err(self.err(format!("attempt to call {what}")));
        };
        let argv: Vec<Val> = args.iter().map(|&s| self.get(st, s)).collect();
        let arg = |_: &Self, i: usize| argv.get(i).cloned().unwrap_or(Val::K(Const::Nil));
        let nargs = args.len();
        let want = |l: &Self, n: usize| -> LResult<()> {
            if nargs < n {
                Err(l.err(format!(
                    "{} needs {n} argument{}",
                    b.name(),
                    if n == 1 { "" } else { "s" }
                )))
            } else {
                Ok(())
            }
        };
        match b {
            Builtin::Time => Ok(Val::Rt {
                v: self.call_helper(Helper::KtimeGetNs, &[]),
                ty: Ty::U64,
                width: 0,
            }),
            Builtin::PidTgid => Ok(Val::Rt {
                v: self.call_helper(Helper::GetCurrentPidTgid, &[]),
                ty: Ty::U64,
                width: 0,
            }),
            Builtin::UidGid => Ok(Val::Rt {
                v: self.call_helper(Helper::GetCurrentUidGid, &[]),
                ty: Ty::U64,
                width: 0,
            }),
            Builtin::Cpu => {
                let v = self.call_helper(Helper::GetSmpProcessorId, &[]);
                Ok(Val::Rt {
                    v,
                    ty: Ty::Num,
                    width: 4,
                })
            }
            Builtin::Rand => {
                let v = self.call_helper(Helper::GetPrandomU32, &[]);
                // The helper returns a u32; make sure the upper half is clear.
                self.alu32(AluOp::Mov, v, Src::Reg(v));
                Ok(Val::Rt {
                    v,
                    ty: Ty::Num,
                    width: 4,
                })
            }
            Builtin::Xadd => {
                want(self, 2)?;
                let target = arg(self, 0);
                self.settle_refs(st, &[args[0]])?;
                let inc = self.operand(arg(self, 1))?;
                if inc.ty == Ty::Bool {
                    return Err(self.err("bad argument #2 to xadd: number expected, got boolean"));
                }
                let (ptr, off, ty, nullable) = match target {
                    Val::MapPtr {
                        v, ty, nullable, ..
                    } => (v, 0, ty, nullable),
                    Val::Ref {
                        base: Base::Map(v),
                        off,
                        ty,
                    } => (v, off, ty, false),
                    other => {
                        return Err(self
                            .err(format!(
                                "xadd needs a map value or a field of one, got {}",
                                other.describe()
                            ))
                            .hint("local v = m[k]; if v then xadd(v, 1) end"))
                    }
                };
                let size = match ty.size() {
                    4 if scalar_ty(&ty).is_some() => Size::W,
                    8 if scalar_ty(&ty).is_some() => Size::DW,
                    _ => {
                        return Err(self.err(format!(
                            "xadd works on 4- and 8-byte integers, not {}",
                            ty.c_name()
                        )))
                    }
                };
                let r = self.reg_of(inc);
                let skip = self.code.label();
                if nullable {
                    self.e(Insn::Jmp {
                        op: JmpOp::Jeq,
                        dst: R::V(ptr),
                        src: Src::Imm(0),
                        target: skip,
                    });
                }
                let off = i16::try_from(off).map_err(|_| self.err("offset too large"))?;
                self.e(Insn::AtomicAdd {
                    size,
                    dst: R::V(ptr),
                    src: R::V(r),
                    off,
                });
                self.code.bind(skip);
                Ok(Val::K(Const::Nil))
            }
            Builtin::Comm => {
                want(self, 1)?;
                let (off, ty) = match arg(self, 0) {
                    Val::Stack { off, ty } => (off, ty),
                    Val::Ref {
                        base: Base::Stack(o),
                        off,
                        ty,
                    } => (o - off, ty),
                    other => {
                        return Err(self.err(format!(
                            "comm() needs a char[16] stack buffer or field, got {}",
                            other.describe()
                        )))
                    }
                };
                let size = ty.size();
                self.settle_refs(st, &[])?;
                self.call_helper(
                    Helper::GetCurrentComm,
                    &[Arg::Stack(off), Arg::Imm(i64::from(size))],
                );
                Ok(Val::K(Const::Nil))
            }
            Builtin::Ntoh | Builtin::Hton => {
                want(self, 1)?;
                let x = self.operand(arg(self, 0))?;
                let bits = match nargs {
                    1 => match (x.width, x.ty) {
                        (w @ (1 | 2 | 4 | 8), _) => u32::from(w) * 8,
                        (_, Ty::Num) => 32,
                        _ => 64,
                    },
                    _ => match self.operand(arg(self, 1))?.k {
                        Some(b @ (16 | 32 | 64)) => b as u32,
                        _ => {
                            return Err(self.err(format!("{}: bits must be 16, 32 or 64", b.name())))
                        }
                    },
                };
                if x.ty == Ty::Bool {
                    return Err(self.err(format!(
                        "bad argument to {}: number expected, got boolean",
                        b.name()
                    )));
                }
                // A one-byte field: nothing to swap.
                if bits == 8 {
                    return Ok(Val::Rt {
                        v: self.reg_of(x),
                        ty: x.ty,
                        width: 1,
                    });
                }
                if let Some(k) = x.k {
                    let r = match bits {
                        16 => i64::from((k as u16).swap_bytes()),
                        32 => i64::from((k as u32).swap_bytes()),
                        _ => (k as u64).swap_bytes() as i64,
                    };
                    return Ok(Val::K(if x.ty == Ty::Num {
                        Const::Num(r as f64)
                    } else if x.ty == Ty::I64 {
                        Const::Int64(r)
                    } else {
                        Const::UInt64(r as u64)
                    }));
                }
                let t = self.tmp();
                self.put_reg(x, t);
                self.e(Insn::ToBe {
                    dst: R::V(t),
                    bits: bits as u8,
                });
                Ok(Val::Rt {
                    v: t,
                    ty: x.ty,
                    width: (bits / 8) as u8,
                })
            }
            Builtin::BitBand
            | Builtin::BitBor
            | Builtin::BitBxor
            | Builtin::BitBnot
            | Builtin::BitLshift
            | Builtin::BitRshift
            | Builtin::BitArshift
            | Builtin::BitTobit => {
                let mut ops = Vec::new();
                for i in 0..nargs {
                    ops.push(self.operand(arg(self, i))?);
                }
                self.bitop(b, &ops)
            }
            Builtin::FfiNew => {
                want(self, 1)?;
                let ty = self.ctype_arg(arg(self, 0))?;
                let size = align8(ty.size().max(1));
                let off = match self.objects.get(&pc) {
                    Some(o) => *o,
                    None => {
                        self.objects_top += size as i32;
                        let o = self.objects_top;
                        self.objects.insert(pc, o);
                        o
                    }
                };
                if off as u32 > MAX_STACK {
                    return Err(self
                        .err(format!(
                            "this ffi.new needs {size} bytes of stack, {off} with the objects before it; BPF allows {MAX_STACK}"
                        ))
                        .hint("use fewer or smaller stack objects, or keep large data in a map value"));
                }
                // Zero it: BPF reads of uninitialised stack are rejected, and ffi.new zero-fills.
                for i in 0..(size / 8) {
                    self.e(Insn::St {
                        size: Size::DW,
                        dst: R::P(Reg::R10),
                        off: (i as i32 * 8 - off) as i16,
                        imm: 0,
                    });
                }
                // Initialisers, as LuaJIT applies them: struct fields in order; array
                // elements in order, a single one repeated over the whole array.
                let inits: Vec<Val> = (1..nargs).map(|i| arg(self, i)).collect();
                if !inits.is_empty() {
                    let targets: Vec<(i32, CType)> = match &ty {
                        CType::Struct(def) if !def.is_union => def
                            .fields
                            .iter()
                            .filter(|f| f.bits.is_none() && !f.name.is_empty())
                            .map(|f| (f.offset as i32, f.ty.clone()))
                            .collect(),
                        CType::Array(elem, n) => (0..*n)
                            .map(|i| ((i * elem.size()) as i32, (**elem).clone()))
                            .collect(),
                        other => vec![(0, other.clone())],
                    };
                    if inits.len() > targets.len() {
                        return Err(self.err(format!(
                            "too many initialisers for {}: {} given, {} fields or elements",
                            ty.c_name(),
                            inits.len(),
                            targets.len()
                        )));
                    }
                    let repeat = inits.len() == 1 && matches!(ty, CType::Array(..));
                    for (i, (foff, fty)) in targets.iter().enumerate() {
                        let v = if repeat {
                            &inits[0]
                        } else if let Some(v) = inits.get(i) {
                            v
                        } else {
                            break;
                        };
                        self.store_to(Base::Stack(off), *foff, fty, v.clone())?;
                    }
                }
                Ok(Val::Stack { off, ty })
            }
            Builtin::FfiSizeof => {
                want(self, 1)?;
                let ty = match arg(self, 0) {
                    Val::Stack { ty, .. } | Val::Ref { ty, .. } | Val::MapPtr { ty, .. } => ty,
                    v => self.ctype_arg(v)?,
                };
                Ok(Val::K(Const::Num(f64::from(ty.size()))))
            }
            Builtin::FfiCast => {
                want(self, 2)?;
                let ty = self.ctype_arg(arg(self, 0))?;
                let x = self.operand(arg(self, 1))?;
                self.cast(&ty, x)
            }
            Builtin::MathLog2 | Builtin::MathLog10 | Builtin::MathLog => {
                want(self, 1)?;
                let x = self.operand(arg(self, 0))?;
                self.log(b, x)
            }
            Builtin::LoadBytes => {
                want(self, 2)?;
                let off = self.operand(arg(self, 0))?;
                let (dst, size) = self.stack_buffer(arg(self, 1), "load_bytes")?;
                let off = match off.k {
                    Some(k) => Arg::Imm(k),
                    None => Arg::Reg(self.reg_of(off)),
                };
                let r = self.call_helper(
                    Helper::SkbLoadBytes,
                    &[Arg::Ctx, off, Arg::Stack(dst), Arg::Imm(i64::from(size))],
                );
                Ok(Val::Rt {
                    v: r,
                    ty: Ty::Num,
                    width: 0,
                })
            }
            Builtin::PerfSubmit | Builtin::RingbufOutput => {
                want(self, 2)?;
                let Val::K(Const::Map(id)) = arg(self, 0) else {
                    return Err(self.err(format!("{}: the first argument must be a map", b.name())));
                };
                let m = self.map(id)?;
                let want_kind = if b == Builtin::PerfSubmit {
                    "perf_event_array"
                } else {
                    "ringbuf"
                };
                if m.kind != want_kind {
                    return Err(self.err(format!(
                        "{}: map `{}` is a {}, not a {want_kind}",
                        b.name(),
                        m.name,
                        m.kind
                    )));
                }
                let v = arg(self, 1);
                let ty = match &v {
                    Val::Stack { ty, .. } => ty.clone(),
                    _ => CType::Int {
                        size: 8,
                        signed: false,
                        is_char: false,
                    },
                };
                let off = self.buffer(0, &ty, v, "event")?;
                self.record_event(id, &ty)?;
                let size = Arg::Imm(i64::from(ty.size()));
                let r = if b == Builtin::PerfSubmit {
                    // BPF_F_CURRENT_CPU: the buffer of the CPU the program runs on.
                    self.call_helper(
                        Helper::PerfEventOutput,
                        &[
                            Arg::Ctx,
                            Arg::Map(id),
                            Arg::Imm(0xffff_ffff),
                            Arg::Stack(off),
                            size,
                        ],
                    )
                } else {
                    self.call_helper(
                        Helper::RingbufOutput,
                        &[Arg::Map(id), Arg::Stack(off), size, Arg::Imm(0)],
                    )
                };
                Ok(Val::Rt {
                    v: r,
                    ty: Ty::Num,
                    width: 0,
                })
            }
            Builtin::StackId => {
                want(self, 1)?;
                let Val::K(Const::Map(id)) = arg(self, 0) else {
                    return Err(self.err("stack_id: the first argument must be a stack_trace map"));
                };
                if self.map(id)?.kind != "stack_trace" {
                    return Err(self.err("stack_id: the map must be a stack_trace map"));
                }
                let flags = if nargs > 1 {
                    let f = self.operand(arg(self, 1))?;
                    f.k.ok_or_else(|| {
                        self.err("stack_id: flags must be a constant (BPF.F_USER_STACK, ...)")
                    })?
                } else {
                    0
                };
                let r = self.call_helper(
                    Helper::GetStackid,
                    &[Arg::Ctx, Arg::Map(id), Arg::Imm(flags)],
                );
                // The helper returns a long: a stack id, or a negative errno.
                Ok(Val::Rt {
                    v: r,
                    ty: Ty::Num,
                    width: 0,
                })
            }
            Builtin::FfiCopy => {
                want(self, 2)?;
                let (dst, size) = self.stack_buffer(arg(self, 0), "ffi.copy")?;
                let src = arg(self, 1);
                if let Val::DataLoc { off, rel, is_char } = src {
                    // The data lives in the record: ctx + (loc & 0xffff) (+ the end of the
                    // field for __rel_loc), as bcc's TP_DATA_LOC_READ does.
                    let loc = self.load(
                        Base::Ctx,
                        off,
                        &CType::Int {
                            size: 4,
                            signed: false,
                            is_char: false,
                        },
                    )?;
                    let o = self.reg_of(loc);
                    self.alu(AluOp::And, o, Src::Imm(0xffff));
                    if rel {
                        self.alu(AluOp::Add, o, Src::Imm(off + 4));
                    }
                    let addr = self.tmp();
                    self.e(Insn::Alu64 {
                        op: AluOp::Mov,
                        dst: R::V(addr),
                        src: Src::Reg(R::P(Reg::R6)),
                    });
                    self.alu(AluOp::Add, addr, Src::Reg(o));
                    let helper = if is_char {
                        Helper::ProbeReadKernelStr
                    } else {
                        Helper::ProbeReadKernel
                    };
                    self.settle_refs(st, &[])?;
                    let r = self.call_helper(
                        helper,
                        &[Arg::Stack(dst), Arg::Imm(i64::from(size)), Arg::Reg(addr)],
                    );
                    return Ok(Val::Rt {
                        v: r,
                        ty: Ty::Num,
                        width: 0,
                    });
                }
                // A `char *` source copies a NUL-terminated string.
                let string = match &src {
                    Val::Ref {
                        ty: CType::Pointer(p),
                        ..
                    } => p.is_char(),
                    Val::Ptr { pointee, .. } => pointee.is_char(),
                    _ => false,
                };
                let from = self.operand(src)?;
                let from = self.reg_of(from);
                let user = matches!(self.env.kind, ProgramKind::Uprobe { .. });
                let helper = match (user, string) {
                    (true, true) => Helper::ProbeReadUserStr,
                    (true, false) => Helper::ProbeReadUser,
                    (false, true) => Helper::ProbeReadKernelStr,
                    (false, false) => Helper::ProbeReadKernel,
                };
                self.settle_refs(st, &[])?;
                let r = self.call_helper(
                    helper,
                    &[Arg::Stack(dst), Arg::Imm(i64::from(size)), Arg::Reg(from)],
                );
                Ok(Val::Rt {
                    v: r,
                    ty: Ty::Num,
                    width: 0,
                })
            }
            Builtin::Print => {
                want(self, 1)?;
                let Val::K(Const::Str(fmt)) = arg(self, 0) else {
                    return Err(
                        self.err("print: the first argument must be a constant format string")
                    );
                };
                if nargs > 4 {
                    return Err(
                        self.err("print takes a format and at most 3 values (bpf_trace_printk)")
                    );
                }
                let mut vals = Vec::new();
                for i in 1..nargs {
                    let o = self.operand(arg(self, i))?;
                    vals.push(match o.k {
                        Some(k) => Arg::Imm(k),
                        None => Arg::Reg(self.reg_of(o)),
                    });
                }
                let off = self.string_on_stack(pc, fmt.as_bytes())?;
                let mut args = vec![Arg::Stack(off), Arg::Imm(fmt.len() as i64 + 1)];
                args.extend(vals);
                self.call_helper(Helper::TracePrintk, &args);
                Ok(Val::K(Const::Nil))
            }
        }
    }

    /// A stack object (or a field or element of one) to write into: its offset and size.
    fn stack_buffer(&mut self, v: Val, what: &str) -> LResult<(i32, u32)> {
        match v {
            Val::Stack { off, ty } => Ok((off, ty.size())),
            Val::Ref {
                base: Base::Stack(o),
                off,
                ty,
            } => Ok((o - off, ty.size())),
            other => Err(self.err(format!(
                "{what}: the destination must be an ffi.new object or a field of one, not {}",
                other.describe()
            ))),
        }
    }

    /// A perf or ring buffer map carries one event type; remember it for the bindings.
    fn record_event(&mut self, map: u32, ty: &CType) -> LResult<()> {
        match self.events.get(&map) {
            Some(t) if t != ty => Err(self.err(format!(
                "map `{}` already carries events of type {}, not {}",
                self.map(map)?.name,
                t.c_name(),
                ty.c_name()
            ))),
            _ => {
                self.events.insert(map, ty.clone());
                Ok(())
            }
        }
    }

    /// A NUL-terminated string in a stack object made for the call at `pc`.
    fn string_on_stack(&mut self, pc: usize, bytes: &[u8]) -> LResult<i32> {
        let size = align8(bytes.len() as u32 + 1);
        let off = match self.objects.get(&pc) {
            Some(o) => *o,
            None => {
                self.objects_top += size as i32;
                self.objects.insert(pc, self.objects_top);
                self.objects_top
            }
        };
        if off as u32 > MAX_STACK {
            return Err(self.err(format!(
                "this string needs {size} bytes of stack; BPF allows {MAX_STACK} in all"
            )));
        }
        let mut padded = bytes.to_vec();
        padded.resize(size as usize, 0);
        for (i, chunk) in padded.chunks(4).enumerate() {
            let imm = i32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            self.e(Insn::St {
                size: Size::W,
                dst: R::P(Reg::R10),
                off: (i as i32 * 4 - off) as i16,
                imm,
            });
        }
        Ok(off)
    }

    /// `ffi.cast(ctype, x)` to an integer type: truncate and extend as C does.
    fn cast(&mut self, ty: &CType, x: Opnd) -> LResult<Val> {
        if let CType::Pointer(pointee) = ty {
            if x.ty == Ty::Bool {
                return Err(self.err("cannot cast a boolean to a pointer"));
            }
            let v = self.reg_of(x);
            return Ok(Val::Ptr {
                v,
                pointee: self.env.ctypes.resolve(pointee),
            });
        }
        let CType::Int { size, signed, .. } = *ty else {
            return Err(self.err(format!(
                "ffi.cast to {} is not supported (integer and pointer types only)",
                ty.c_name()
            )));
        };
        let out_ty = match (size, signed) {
            (8, true) => Ty::I64,
            (8, false) => Ty::U64,
            _ => Ty::Num,
        };
        if let Some(k) = x.k {
            let bits = u32::from(size) * 8;
            let v = if bits == 64 {
                k
            } else if signed {
                (k << (64 - bits)) >> (64 - bits)
            } else {
                k & ((1i64 << bits) - 1)
            };
            return Ok(Val::K(match out_ty {
                Ty::I64 => Const::Int64(v),
                Ty::U64 => Const::UInt64(v as u64),
                _ => Const::Num(v as f64),
            }));
        }
        let t = self.tmp();
        self.put_reg(x, t);
        match (size, signed) {
            (8, _) => {}
            (4, false) => self.alu32(AluOp::Mov, t, Src::Reg(t)),
            (4, true) => self.e(Insn::Sext32 { dst: R::V(t) }),
            (n, false) => self.alu(
                AluOp::And,
                t,
                Src::Imm(((1i64 << (8 * u32::from(n))) - 1) as i32),
            ),
            (n, true) => {
                let sh = 64 - 8 * i32::from(n);
                self.alu(AluOp::Lsh, t, Src::Imm(sh));
                self.alu(AluOp::Arsh, t, Src::Imm(sh));
            }
        }
        Ok(Val::Rt {
            v: t,
            ty: out_ty,
            width: size,
        })
    }

    /// Integer logarithms: the largest `p` with `base^p <= x` (x read as unsigned; 0 for 0).
    fn log(&mut self, b: Builtin, x: Opnd) -> LResult<Val> {
        if x.ty == Ty::Bool {
            return Err(self.err(format!(
                "bad argument to {}: number expected, got boolean",
                b.name()
            )));
        }
        // Thresholds base^p for p = 1, 2, ... that fit in 64 bits.
        let thresholds: Vec<u64> = match b {
            Builtin::MathLog2 => (1..64).map(|p| 1u64 << p).collect(),
            Builtin::MathLog10 => (1..20).map(|p| 10u64.pow(p)).collect(),
            _ => (1..45).map(|p| (p as f64).exp().ceil() as u64).collect(),
        };
        if let Some(k) = x.k {
            let n = thresholds.iter().take_while(|t| k as u64 >= **t).count();
            return Ok(num(n as i64));
        }
        let v = self.reg_of(x);
        let r = self.tmp();
        self.mov_imm(r, 0);
        if b == Builtin::MathLog2 {
            // Binary search on the highest set bit.
            let y = self.tmp();
            self.mov(y, v);
            for sh in [32, 16, 8, 4, 2, 1] {
                let t = self.tmp();
                self.mov(t, y);
                self.alu(AluOp::Rsh, t, Src::Imm(sh));
                let skip = self.code.label();
                self.e(Insn::Jmp {
                    op: JmpOp::Jeq,
                    dst: R::V(t),
                    src: Src::Imm(0),
                    target: skip,
                });
                self.mov(y, t);
                self.alu(AluOp::Add, r, Src::Imm(sh));
                self.code.bind(skip);
            }
        } else {
            let done = self.code.label();
            for (p, t) in thresholds.iter().enumerate() {
                let k = rsrc(self.src_of(Opnd {
                    k: Some(*t as i64),
                    v: None,
                    ty: Ty::U64,
                    width: 0,
                }));
                self.e(Insn::Jmp {
                    op: JmpOp::Jlt,
                    dst: R::V(v),
                    src: k,
                    target: done,
                });
                self.mov_imm(r, p as i64 + 1);
            }
            self.code.bind(done);
        }
        Ok(Val::Rt {
            v: r,
            ty: Ty::Num,
            width: 0,
        })
    }

    fn ctype_arg(&self, v: Val) -> LResult<CType> {
        let name = match v {
            Val::K(Const::CType(n)) | Val::K(Const::Str(n)) => n,
            other => return Err(self.err(format!("expected a C type, got {}", other.describe()))),
        };
        self.env
            .ctypes
            .parse_type(&name)
            .map_err(|e| self.err(format!("unknown C type `{name}`: {}", e.message)))
    }

    /// Loads `size` bytes of packet at `off` (+ `dynoff`) in network byte order into a register.
    fn pkt_load(&mut self, off: i32, size: u32, dynoff: Option<VReg>) -> LResult<VReg> {
        let sz = Size::from_bytes(size).ok_or_else(|| self.err("unsupported packet field size"))?;
        if size == 8 {
            let hi = self.pkt_load(off, 4, dynoff)?;
            let lo = self.pkt_load(off + 4, 4, dynoff)?;
            // Memory order as a little-endian integer: bytes off..off+3 are the low half.
            self.alu(AluOp::Lsh, lo, Src::Imm(32));
            self.alu(AluOp::Or, lo, Src::Reg(hi));
            return Ok(lo);
        }
        let t = self.ld_packet(sz, off, dynoff);
        if size > 1 {
            // LD_ABS converts to host order; the dissector reads network order (use ntoh).
            self.e(Insn::ToBe {
                dst: R::V(t),
                bits: (size * 8) as u8,
            });
        }
        // The verifier does not bound LD_ABS results: say how wide the value is, so that loops
        // bounded by packet fields verify.
        match size {
            4 => self.alu32(AluOp::Mov, t, Src::Reg(t)),
            _ => self.alu(AluOp::And, t, Src::Imm(((1i64 << (8 * size)) - 1) as i32)),
        }
        Ok(t)
    }

    /// Compares packet bytes or a char buffer with a string constant. A slice equals the
    /// string when its bytes are the string's; a char array when it holds the string and then a
    /// NUL (or the string fills it), as C's `strcmp` would say.
    fn equal_bytes(&mut self, v: Val, s: &[u8]) -> LResult<Cond> {
        enum From {
            Packet(Option<VReg>),
            Memory(Base),
        }
        let (src, off, want) = match v {
            Val::Slice { off, dynoff, len } => {
                if len as usize != s.len() {
                    return Ok(Cond::Known(false));
                }
                (From::Packet(dynoff), off, s.to_vec())
            }
            Val::Ref {
                base,
                off,
                ty: CType::Array(elem, n),
            } if elem.size() == 1 => {
                let mut want = s.to_vec();
                if s.len() > n as usize {
                    return Ok(Cond::Known(false));
                }
                if s.len() < n as usize {
                    want.push(0);
                }
                (From::Memory(base), off, want)
            }
            other => {
                return Err(self.err(format!("cannot compare {} with a string", other.describe())))
            }
        };
        let t = self.tmp();
        self.mov_imm(t, 0);
        let done = self.code.label();
        let mut i = 0usize;
        while i < want.len() {
            // The widest aligned chunk that fits (ctx and stack loads must be aligned).
            let at = off + i as i32;
            let w = [8usize, 4, 2, 1]
                .into_iter()
                .find(|w| {
                    i + w <= want.len()
                        && (matches!(src, From::Packet(_)) && *w <= 4
                            || at.rem_euclid(*w as i32) == 0)
                })
                .unwrap_or(1);
            let mut bytes = [0u8; 8];
            bytes[..w].copy_from_slice(&want[i..i + w]);
            let k = i64::from_le_bytes(bytes);
            let c = match &src {
                From::Packet(dynoff) => self.pkt_load(at, w as u32, *dynoff)?,
                From::Memory(base) => {
                    let ty = CType::Int {
                        size: w as u8,
                        signed: false,
                        is_char: false,
                    };
                    let o = self.load(base.clone(), at, &ty)?;
                    self.reg_of(o)
                }
            };
            let k = rsrc(self.src_of(Opnd {
                k: Some(k),
                v: None,
                ty: Ty::U64,
                width: 0,
            }));
            self.e(Insn::Jmp {
                op: JmpOp::Jne,
                dst: R::V(c),
                src: k,
                target: done,
            });
            i += w;
        }
        self.mov_imm(t, 1);
        self.code.bind(done);
        Ok(Cond::Test {
            op: JmpOp::Jne,
            a: t,
            b: Src::Imm(0),
        })
    }

    /// A dissector moved by a number of bytes, constant or run-time.
    fn pkt_add(&mut self, x: Val, y: Val) -> LResult<Val> {
        let (pkt, n) = match (x, y) {
            (p @ Val::Pkt { .. }, n) | (n, p @ Val::Pkt { .. }) => (p, n),
            _ => return Err(self.err("internal error: pkt_add without a dissector")),
        };
        let Val::Pkt { hdr, off, dynoff } = pkt else {
            return Err(self.err("internal error: pkt_add without a dissector"));
        };
        let n = self.operand(n)?;
        if n.ty == Ty::Bool {
            return Err(self.err("cannot move a dissector by a boolean"));
        }
        match n.k {
            Some(k) => {
                let off = i32::try_from(i64::from(off) + k)
                    .map_err(|_| self.err("packet offset out of range"))?;
                Ok(Val::Pkt { hdr, off, dynoff })
            }
            None => {
                let t = self.tmp();
                self.put_reg(n, t);
                if let Some(d) = dynoff {
                    self.alu(AluOp::Add, t, Src::Reg(d));
                }
                Ok(Val::Pkt {
                    hdr,
                    off,
                    dynoff: Some(t),
                })
            }
        }
    }

    /// `r0 = packet[dynoff + off]` (LD_ABS/LD_IND, host order), copied into a new register.
    fn ld_packet(&mut self, size: Size, off: i32, dynoff: Option<VReg>) -> VReg {
        match dynoff {
            None => self.e(Insn::LdAbs { size, imm: off }),
            Some(d) => self.e(Insn::LdInd {
                size,
                src: R::V(d),
                imm: off,
            }),
        }
        let t = self.tmp();
        self.e(Insn::Alu64 {
            op: AluOp::Mov,
            dst: R::V(t),
            src: Src::Reg(R::P(Reg::R0)),
        });
        t
    }

    fn pkt_index(&mut self, hdr: Hdr, off: i32, dynoff: Option<VReg>, key: &str) -> LResult<Val> {
        if let Some(f) = hdr.field(key) {
            let v = if let Some((shift, width)) = f.bits {
                // Bit fields are defined on the big-endian container: load in host order.
                let sz = Size::from_bytes(f.size).ok_or_else(|| self.err("bad field"))?;
                let t = self.ld_packet(sz, off + f.off, dynoff);
                if shift > 0 {
                    self.alu(AluOp::Rsh, t, Src::Imm(i32::from(shift)));
                }
                self.alu(AluOp::And, t, Src::Imm(((1u64 << width) - 1) as i32));
                return Ok(Val::Rt {
                    v: t,
                    ty: Ty::Num,
                    width: 0,
                });
            } else {
                self.pkt_load(off + f.off, f.size, dynoff)?
            };
            let ty = if f.size == 8 { Ty::U64 } else { Ty::Num };
            return Ok(Val::Rt {
                v,
                ty,
                width: f.size as u8,
            });
        }
        let Some((next, how)) = hdr.next(key) else {
            return Err(self.err(format!(
                "the {} header has no field or next header `{key}`",
                hdr.name()
            )));
        };
        match how {
            Next::Fixed(n) => Ok(Val::Pkt {
                hdr: next,
                off: off + n,
                dynoff,
            }),
            Next::Dyn {
                off: boff,
                shift,
                mask,
                mul,
                add,
            } => {
                let sz = Size::B;
                let t = self.ld_packet(sz, off + boff, dynoff);
                if shift > 0 {
                    self.alu(AluOp::Rsh, t, Src::Imm(i32::from(shift)));
                }
                self.alu(AluOp::And, t, Src::Imm(i32::from(mask)));
                self.alu(AluOp::Mul, t, Src::Imm(mul));
                if add != 0 {
                    self.alu(AluOp::Add, t, Src::Imm(add));
                }
                if let Some(d) = dynoff {
                    self.alu(AluOp::Add, t, Src::Reg(d));
                }
                Ok(Val::Pkt {
                    hdr: next,
                    off,
                    dynoff: Some(t),
                })
            }
        }
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

/// Folds `a op b` as the kernel would compute it (division by zero gives 0, modulo by zero a).
fn fold(kind: u8, a: i64, b: i64, ty: Ty) -> i64 {
    match kind {
        0 => a.wrapping_add(b),
        1 => a.wrapping_sub(b),
        2 => a.wrapping_mul(b),
        3 => {
            if b == 0 {
                0
            } else if ty == Ty::U64 {
                ((a as u64) / (b as u64)) as i64
            } else {
                a.wrapping_div(b)
            }
        }
        _ => {
            if b == 0 {
                a
            } else if ty == Ty::U64 {
                ((a as u64) % (b as u64)) as i64
            } else if ty == Ty::I64 {
                a.wrapping_rem(b)
            } else {
                let r = a.wrapping_rem(b);
                if r != 0 && (r ^ b) < 0 {
                    r + b
                } else {
                    r
                }
            }
        }
    }
}

fn fold_bit(op: Builtin, ks: &[i64], wide: bool) -> i64 {
    let norm = |x: i64| if wide { x } else { i64::from(x as i32) };
    let r = match op {
        Builtin::BitTobit => ks[0],
        Builtin::BitBnot => !ks[0],
        Builtin::BitBand => ks.iter().fold(-1, |a, b| a & b),
        Builtin::BitBor => ks.iter().fold(0, |a, b| a | b),
        Builtin::BitBxor => ks.iter().fold(0, |a, b| a ^ b),
        Builtin::BitLshift => {
            if wide {
                ks[0].wrapping_shl((ks[1] & 63) as u32)
            } else {
                i64::from((ks[0] as u32).wrapping_shl((ks[1] & 31) as u32) as i32)
            }
        }
        Builtin::BitRshift => {
            if wide {
                ((ks[0] as u64) >> (ks[1] & 63)) as i64
            } else {
                i64::from(((ks[0] as u32) >> (ks[1] & 31)) as i32)
            }
        }
        _ => {
            if wide {
                ks[0] >> (ks[1] & 63)
            } else {
                i64::from((ks[0] as i32) >> (ks[1] & 31))
            }
        }
    };
    norm(r)
}

/// `struct __sk_buff` fields a socket filter may read (include/uapi/linux/bpf.h).
fn skb_field(name: &str) -> Option<i32> {
    Some(match name {
        "len" => 0,
        "pkt_type" => 4,
        "mark" => 8,
        "queue_mapping" => 12,
        "protocol" => 16,
        "vlan_present" => 20,
        "vlan_tci" => 24,
        "vlan_proto" => 28,
        "priority" => 32,
        "ingress_ifindex" => 36,
        "ifindex" => 40,
        "tc_index" => 44,
        "hash" => 68,
        _ => return None,
    })
}

/// `struct pt_regs` on x86-64 (arch/x86/include/uapi/asm/ptrace.h) and the seed's aliases.
fn pt_regs_field(name: &str) -> Option<i32> {
    let regs = [
        "r15", "r14", "r13", "r12", "bp", "bx", "r11", "r10", "r9", "r8", "ax", "cx", "dx", "si",
        "di", "orig_ax", "ip", "cs", "flags", "sp", "ss",
    ];
    let name = match name {
        "parm1" => "di",
        "parm2" => "si",
        "parm3" => "dx",
        "parm4" => "cx",
        "parm5" => "r8",
        "ret" => "ax",
        "fp" => "bp",
        n => n,
    };
    regs.iter().position(|r| *r == name).map(|i| i as i32 * 8)
}
