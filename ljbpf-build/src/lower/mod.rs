//! Bytecode → virtual-register BPF, by abstract interpretation of the Lua slots.
//!
//! Two passes over the basic blocks: the first finds, for each block, what every slot holds on
//! entry (a fixpoint of [`join()`]); the second emits code, moving values into each slot's own
//! virtual register on the edges where a successor expects a run-time value there.
//!
//! One job per file: this module is the driver [`lower`] and the `Lowerer` core (emission,
//! operands, loads); `cfg` splits blocks and finds predecessors, `join` is the slot-type lattice
//! of the fixpoint, `step` runs a block opcode by opcode, `edges` moves values between blocks
//! (a parallel copy); the others lower one family of operations each.

use std::collections::{BTreeMap, BTreeSet};

use ljbpf_core::context::{Arch, Context};
use ljbpf_core::helper::Helper;
use ljbpf_core::insn::{AluOp, Insn, JmpOp, Label, MapId, Reg, Size, Src};
use ljbpf_core::map::MapKind;
use ljbpf_core::program::{Memory, PacketAccess, ProgramKind};

use crate::ctype::{CType, CTypes};
use crate::diag::{Diagnostic, Span};
use crate::kernel::btf::Btf;
use crate::kernel::funcs::FuncArgs;
use crate::lua::bc::{Ins, Op};
use crate::lua::decode::{Const, Proto};
use crate::mir::code::StackObject;
use crate::mir::{Rec, Reloc, VCode, VReg, R};
use crate::tracepoint::{TpFieldKind, TracepointFormat};

use cfg::{endless_loop, predecessors, split_blocks};
use join::{canonical, join};
use packet::{Hdr, Next};
use value::{Base, Builtin, Elem, Kind, Kinds, Ty, Val};

mod arith;
mod builtins;
mod cfg;
mod cond;
mod consts;
mod direct;
mod dissect;
mod edges;
mod index;
mod join;
mod maps;
mod memory;
mod packet;
mod step;
mod tagged;
mod value;

/// The first tag register (see `join::tag_reg`): above every slot's own register (a LuaJIT
/// frame has at most 255 slots; lowering adds 4).
const TAG_BASE: u32 = 260;

pub use ljbpf_core::insn::MAX_STACK;

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
    /// The arguments of BTF-typed programs (tp_btf, fentry, fexit).
    pub args: Option<&'a FuncArgs>,
    /// The kernel's BTF, for the structs behind BTF-typed pointers.
    pub kernel_btf: Option<&'a Btf>,
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

/// Why a slot is undefined after an instruction that failed to lower. Errors about such values
/// only repeat the first error, so [`lower`] drops them.
const POISONED: &str = "it comes from a line with an error";

/// The most errors one program function reports: after an error, lowering goes on to find
/// others, and a cascade stops here.
const MAX_ERRORS: usize = 20;

/// Lowers one program function. Reports every error it finds, not only the first: after an
/// error it goes on with the next instruction, with what that instruction would have written
/// poisoned.
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
            l.reset_code(TAG_BASE + nslots as u32);
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
    // Tag registers exist only in programs that need one, so that the others' registers
    // keep their numbers.
    let tagged = entry
        .iter()
        .flatten()
        .flatten()
        .any(|v| matches!(v, Val::Tagged { .. }));
    l.reset_code(if tagged {
        TAG_BASE + nslots as u32
    } else {
        nslots as u32
    });
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
        l.enter_block(b, &preds[b], nslots, direct[b]);
        for (succ, out) in l.run_block(&blocks, b, st, Some((&entry, &labels))) {
            if direct[succ] {
                direct_entry[succ] = Some(out);
            }
        }
    }
    l.end_packet_out();
    let stack_bytes = l.scratch_base as u32;
    if l.errors.is_empty() {
        l.errors = std::mem::take(&mut l.follow_on);
    }
    if l.errors.is_empty() && stack_bytes > MAX_STACK {
        l.errors.push(l.err_at(
            proto.first_line,
            &format!("the program needs {stack_bytes} bytes of stack; BPF allows {MAX_STACK}"),
        ));
    }
    if l.errors.is_empty() {
        l.code.stack_bytes = stack_bytes;
        let objects = l.objects.iter().map(|(pc, &off)| StackObject {
            off: off as u32,
            size: l.object_sizes.get(pc).copied().unwrap_or(8),
            opaque: false,
        });
        let regions = l.scratch_regions.iter().map(|&(at, size)| StackObject {
            off: (l.scratch_base - at as i32) as u32,
            size,
            opaque: false,
        });
        l.code.objects = objects.chain(regions).collect();
        Ok(Lowered {
            code: l.code,
            events: l.events,
        })
    } else {
        let mut errors = l.errors;
        if errors.iter().any(|d| !d.message.contains(POISONED)) {
            errors.retain(|d| !d.message.contains(POISONED));
        }
        errors.truncate(MAX_ERRORS);
        Err(errors)
    }
}

fn align8(n: u32) -> u32 {
    (n + 7) & !7
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

struct Lowerer<'a> {
    proto: &'a Proto,
    env: &'a Env<'a>,
    code: VCode,
    errors: Vec<Diagnostic>,
    /// Whether the instruction being lowered read a slot poisoned by an earlier error; its
    /// own error would only repeat that one.
    read_poison: std::cell::Cell<bool>,
    /// Errors of instructions that read a poisoned slot: reported only if nothing else is
    /// (poison can travel round a loop back to the instruction that made it).
    follow_on: Vec<Diagnostic>,
    line: u32,
    /// Stack objects by the pc of the `ffi.new` (or call) that made them: their offset.
    objects: BTreeMap<usize, i32>,
    /// Their sizes, by the same pc.
    object_sizes: BTreeMap<usize, u32>,
    objects_top: i32,
    /// Regions of the shared call buffer some call uses: (offset in the buffer, size).
    scratch_regions: BTreeSet<(u32, u32)>,
    scratch_need: u32,
    scratch_base: i32,
    /// How many values the last multi-result call left (always 1 for builtins).
    multres: u8,
    /// Event types of perf/ring buffer maps, from `perf_submit`/`ringbuf_output`.
    events: BTreeMap<u32, CType>,
    /// Registers holding a dissector's run-time offset known to be small and non-negative (a
    /// header length computed from a packet byte): packet loads through them need no check.
    safe_offsets: BTreeSet<VReg>,
    /// For each block, which entry slots hold a safe dissector offset on every edge emitted
    /// into it so far (emitting pass only; see `edges::note_safe_offsets`).
    edge_safe: BTreeMap<usize, Vec<bool>>,
    /// For each block entered from one place, the slots' own registers safe where the edge
    /// into it was emitted.
    edge_own: BTreeMap<usize, Vec<VReg>>,
    /// Registers (never a slot's own) known to hold a value in `0..=max`: what the verifier
    /// cannot see through `%` and `/` (see `arith`), kept so they can be emitted unsigned.
    ranges: BTreeMap<VReg, u64>,
    /// The block that returns the default verdict when a direct packet access falls outside
    /// the packet, once some access needs it.
    pkt_out: Option<Label>,
}

impl<'a> Lowerer<'a> {
    fn new(proto: &'a Proto, env: &'a Env<'a>) -> Lowerer<'a> {
        Lowerer {
            proto,
            env,
            code: VCode::default(),
            errors: Vec::new(),
            read_poison: std::cell::Cell::new(false),
            follow_on: Vec::new(),
            line: proto.first_line,
            objects: BTreeMap::new(),
            object_sizes: BTreeMap::new(),
            objects_top: 0,
            scratch_regions: BTreeSet::new(),
            scratch_need: 0,
            scratch_base: 0,
            multres: 0,
            events: BTreeMap::new(),
            safe_offsets: BTreeSet::new(),
            edge_safe: BTreeMap::new(),
            edge_own: BTreeMap::new(),
            ranges: BTreeMap::new(),
            pkt_out: None,
        }
    }

    /// Starts new code: virtual register numbers restart, so facts about registers are void.
    fn reset_code(&mut self, vregs: u32) {
        self.code = VCode::default();
        self.code.vregs = vregs;
        self.errors.clear();
        self.follow_on.clear();
        self.safe_offsets.clear();
        self.edge_safe.clear();
        self.edge_own.clear();
        self.ranges.clear();
        self.pkt_out = None;
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
        self.e_field(insn, off, false);
    }

    /// [`e_ctx`](Self::e_ctx) for the instruction that gives where a string field's bytes start
    /// (a `__data_loc` word load, or a `char` array's offset): the loader picks the form the
    /// loading kernel's field needs.
    fn e_string_start(&mut self, insn: Insn<R>, off: i32) {
        self.e_field(insn, off, true);
    }

    fn e_field(&mut self, insn: Insn<R>, off: i32, string: bool) {
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
                string,
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
        let v = st
            .get(slot as usize)
            .cloned()
            .unwrap_or(Val::Undef("it is outside the frame"));
        if matches!(v, Val::Undef(POISONED)) {
            self.read_poison.set(true);
        }
        v
    }

    fn set(&self, st: &mut State, slot: u8, v: Val) {
        let i = slot as usize;
        if i >= st.len() {
            st.resize(i + 1, Val::Undef("it is used before it is set"));
        }
        st[i] = v;
    }

    /// A string constant used as a name (global, field, method): bytes that are not UTF-8
    /// become U+FFFD, which no name has, so such a key is reported as unknown.
    fn kstr(&self, idx: u16) -> LResult<String> {
        self.kbytes(idx)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    /// A string constant as the bytes of the Lua string.
    fn kbytes(&self, idx: u16) -> LResult<Vec<u8>> {
        self.proto
            .kstr(idx)
            .map(<[u8]>::to_vec)
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
            // Numbers of different types: their bits (what a return, a store or a key needs;
            // operations that depend on the type split on the tag first, see `tagged`).
            Val::Tagged { v, kinds, .. } => {
                self.numbers_only(kinds)?;
                let ty = kinds
                    .iter()
                    .filter_map(Kind::num_ty)
                    .fold(Ty::Num, Ty::arith);
                Ok(Opnd { k: None, v: Some(v), ty, width: 0 })
            }
            Val::RtSlice { .. } => Err(self
                .err("attempt to use a packet slice with run-time bounds as a number")
                .hint("compare it with a string, give it constant bounds, or read bytes with d[i]")),
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
        // An element at a run-time index reads as 0 when the index is out of range.
        let oob = base.checked().then(|| self.code.label());
        let (src, off) = self.place(&base, off, oob)?;
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
        if let Some(oob) = oob {
            let done = self.code.label();
            self.e(Insn::Ja { target: done });
            self.code.bind(oob);
            self.mov_imm(t, 0);
            self.code.bind(done);
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

    fn ret(&mut self, v: Val) -> LResult<()> {
        let r0 = R::P(Reg::R0);
        match v {
            // The kind's table row says what "no value" means (0, or a packet kind's pass
            // verdict).
            Val::K(Const::Nil) => {
                let verdict = self.env.kind.class().default_return();
                self.mov_imm_r(r0, i64::from(verdict))
            }
            // Whatever it is on this path, its payload: 0 for false, 1 for true. Nil is "no
            // value" as above, the kind's default (a nil payload is 0, so only a non-zero
            // default needs the tag tested).
            Val::Tagged { v, tag, kinds } => {
                let verdict = self.env.kind.class().default_return();
                let t = self.tmp();
                self.mov(t, v);
                if kinds.has(Kind::Nil) && verdict != 0 {
                    let done = self.code.label();
                    self.e(Insn::Jmp {
                        op: JmpOp::Jne,
                        dst: R::V(tag),
                        src: Src::Imm(Kind::Nil.tag() as i32),
                        target: done,
                    });
                    self.mov_imm(t, i64::from(verdict));
                    self.code.bind(done);
                }
                self.e(Insn::Alu64 {
                    op: AluOp::Mov,
                    dst: r0,
                    src: Src::Reg(R::V(t)),
                })
            }
            other => {
                let o = self.operand(other).map_err(|d| {
                    let msg = d.message.clone();
                    self.err(format!("cannot return this value: {msg}"))
                })?;
                match (o.k, o.v) {
                    (Some(k), _) => {
                        if let Some((lo, hi)) = self.env.kind.return_range() {
                            if !(lo..=hi).contains(&k) {
                                return Err(self
                                    .err(format!(
                                        "a {} program returns {lo} to {hi}, not {k}: the kernel refuses other values",
                                        self.env.kind.as_str()
                                    ))
                                    .hint("return SK_PASS or SK_DROP"));
                            }
                        }
                        self.mov_imm_r(r0, k)
                    }
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
