//! Stack slot sharing: the stack objects lowering made (`ffi.new` objects, strings, the regions
//! of the call buffer that hold map keys and values) get new offsets so that objects never live
//! at the same time share bytes, as the register colouring shares registers.
//!
//! Steps:
//! 1. objects: lowering's list (`VCode::objects`), overlapping ones merged;
//! 2. a forward analysis of which registers hold a stack address (R10 plus a constant, maybe
//!    plus a checked array index) resolves every stack access — loads, stores, atomic adds, and
//!    what helpers read and write through their pointer arguments (ljbpf_core's helper table)
//!    — to the object it touches, and to the one instruction whose offset or immediate names
//!    that object (the access itself when it goes through R10, else the first constant added
//!    to a copy of R10);
//! 3. backward liveness per byte: a byte is live where some path reads it before writing it;
//! 4. interference: an object written where another has a live byte, and objects live at
//!    entry, may not share bytes;
//! 5. first-fit placement, largest first, keeping each object aligned for its widest access
//!    (the verifier requires aligned stack accesses: `check_ptr_alignment`, strict for
//!    PTR_TO_STACK).
//!
//! Anything the analysis cannot follow (an access through a register that may point anywhere
//! in the stack, a stack address stored to memory, an access outside every object, objects
//! that would get bigger) leaves the layout as lowering made it. Frame zeroing (`frame`) runs
//! later on the new layout, so a byte an object may read before writing it is live from entry
//! and shares with nothing written before that read.

use std::collections::BTreeMap;

use ljbpf_core::helper::ArgKind;
use ljbpf_core::insn::{AluOp, Insn, Reg, Size, Src};

use super::code::{clobbers, StackObject, VCode, R};

/// The BPF stack size.
const FRAME: usize = ljbpf_core::insn::MAX_STACK as usize;

/// What a register holds, as far as stack addresses go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ptr {
    /// Nothing we track.
    No,
    /// R10 + `k`, plus a checked non-negative array index when `var`. `carrier`: the
    /// instruction whose immediate was first added to the copy of R10, if any was yet.
    Stack {
        k: i64,
        var: bool,
        carrier: Option<usize>,
    },
    /// Maybe a stack address, we do not know where.
    Unknown,
    /// A known constant (helpers read sizes from them).
    Const(i64),
    /// The address of map `n`.
    Map(u32),
}

impl Ptr {
    fn join(self, o: Ptr) -> Ptr {
        match (self, o) {
            (a, b) if a == b => a,
            (Ptr::Stack { .. } | Ptr::Unknown, _) | (_, Ptr::Stack { .. } | Ptr::Unknown) => {
                Ptr::Unknown
            }
            _ => Ptr::No,
        }
    }

    fn is_stack(self) -> bool {
        matches!(self, Ptr::Stack { .. } | Ptr::Unknown)
    }
}

/// Registers that hold something other than [`Ptr::No`], by operand key.
type State = BTreeMap<usize, Ptr>;

fn key(r: R) -> usize {
    match r {
        R::P(p) => p.0 as usize,
        R::V(v) => 11 + v.0 as usize,
    }
}

fn get(st: &State, r: R) -> Ptr {
    st.get(&key(r)).copied().unwrap_or(Ptr::No)
}

fn set(st: &mut State, r: R, p: Ptr) {
    // Helpers read sizes and maps from R1-R5, which lowering sets just before the call:
    // constants and maps in virtual registers are not worth the state they would take.
    let p = match (r, p) {
        (R::V(_), Ptr::Const(_) | Ptr::Map(_)) => Ptr::No,
        (_, p) => p,
    };
    match p {
        Ptr::No => st.remove(&key(r)),
        p => st.insert(key(r), p),
    };
}

fn join(a: &mut State, b: &State) -> bool {
    let keys: Vec<usize> = a.keys().chain(b.keys()).copied().collect();
    let mut changed = false;
    for k in keys {
        let x = a.get(&k).copied().unwrap_or(Ptr::No);
        let y = b.get(&k).copied().unwrap_or(Ptr::No);
        let j = x.join(y);
        if j != x {
            changed = true;
        }
        match j {
            Ptr::No => a.remove(&k),
            p => a.insert(k, p),
        };
    }
    changed
}

/// Why the layout stays as it is.
struct Unsupported;

/// The stack effects of one instruction, in byte indexes (0 = R10 - 1).
#[derive(Default, Clone)]
struct Effect {
    reads: Vec<std::ops::Range<usize>>,
    /// Bytes surely written (they end the liveness of what was there).
    kills: Vec<std::ops::Range<usize>>,
    /// Objects written, in whole or in part.
    writes: Vec<usize>,
}

/// The objects: merged, by byte.
struct Objects {
    /// (offset, size) of each merged object.
    list: Vec<StackObject>,
    /// The object each byte belongs to.
    of: Vec<Option<usize>>,
}

impl Objects {
    fn new(objs: &[StackObject]) -> Result<Objects, Unsupported> {
        let mut ranges: Vec<(usize, usize, bool)> = Vec::new();
        for o in objs {
            let (off, size) = (o.off as usize, o.size as usize);
            if size == 0 || size > off || off > FRAME {
                return Err(Unsupported);
            }
            ranges.push((off - size, off, o.opaque));
        }
        ranges.sort();
        let mut merged: Vec<(usize, usize, bool)> = Vec::new();
        for (lo, hi, opaque) in ranges {
            match merged.last_mut() {
                Some(last) if lo < last.1 => {
                    last.1 = last.1.max(hi);
                    last.2 |= opaque;
                }
                _ => merged.push((lo, hi, opaque)),
            }
        }
        let mut of = vec![None; FRAME];
        for (i, &(lo, hi, _)) in merged.iter().enumerate() {
            for b in &mut of[lo..hi] {
                *b = Some(i);
            }
        }
        let list = merged
            .iter()
            .map(|&(lo, hi, opaque)| StackObject {
                off: hi as u32,
                size: (hi - lo) as u32,
                opaque,
            })
            .collect();
        Ok(Objects { list, of })
    }

    /// The object holding every byte of `size` bytes at R10 + `addr`.
    fn at(&self, addr: i64, size: i64) -> Result<(usize, std::ops::Range<usize>), Unsupported> {
        let lo = -(addr + size);
        let hi = -addr;
        if size <= 0 || lo < 0 || hi > FRAME as i64 {
            return Err(Unsupported);
        }
        let range = lo as usize..hi as usize;
        let first = self.of[range.start].ok_or(Unsupported)?;
        if range.clone().all(|b| self.of[b] == Some(first)) {
            Ok((first, range))
        } else {
            Err(Unsupported)
        }
    }

    fn bytes(&self, o: usize) -> std::ops::Range<usize> {
        let x = self.list[o];
        (x.off - x.size) as usize..x.off as usize
    }
}

/// What the analysis found: per instruction its effects, and the instruction carrying each
/// object's offset.
struct Found {
    effects: Vec<Effect>,
    /// Instruction index → the object its offset or immediate names.
    carriers: BTreeMap<usize, usize>,
    /// Per object, its widest access in bytes.
    align: Vec<u32>,
}

fn note_carrier(found: &mut Found, at: usize, obj: usize) -> Result<(), Unsupported> {
    match found.carriers.insert(at, obj) {
        Some(o) if o != obj => Err(Unsupported),
        _ => Ok(()),
    }
}

/// What a memory access does.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Read,
    Write,
    /// An atomic add.
    Update,
}

/// An access of `size` bytes at `off` through base register state `p`, by instruction `i`.
fn access(
    objs: &Objects,
    found: &mut Found,
    i: usize,
    p: Ptr,
    off: i16,
    size: Size,
    mode: Mode,
) -> Result<(), Unsupported> {
    let read = mode != Mode::Write;
    let write = mode != Mode::Read;
    let (k, var, carrier) = match p {
        Ptr::Stack { k, var, carrier } => (k, var, carrier),
        Ptr::Unknown => return Err(Unsupported),
        Ptr::No | Ptr::Const(_) | Ptr::Map(_) => return Ok(()),
    };
    let n = i64::from(size.bytes());
    let (obj, range) = objs.at(k + i64::from(off), n)?;
    // An element at a checked index: somewhere in the object.
    let range = if var { objs.bytes(obj) } else { range };
    note_carrier(found, carrier.unwrap_or(i), obj)?;
    found.align[obj] = found.align[obj].max(size.bytes());
    let e = &mut found.effects[i];
    if read {
        e.reads.push(range.clone());
    }
    if write {
        e.writes.push(obj);
        if !var && !read {
            e.kills.push(range);
        }
    }
    Ok(())
}

fn step(
    objs: &Objects,
    mut found: Option<&mut Found>,
    i: usize,
    st: &mut State,
    insn: &Insn<R>,
    maps: &[(u32, u32)],
) -> Result<(), Unsupported> {
    let r10 = R::P(Reg::R10);
    let reg = |st: &State, r: R| {
        if r == r10 {
            Ptr::Stack {
                k: 0,
                var: false,
                carrier: None,
            }
        } else {
            get(st, r)
        }
    };
    match *insn {
        Insn::Alu64 {
            op: AluOp::Mov,
            dst,
            src: Src::Reg(s),
        } => {
            let p = reg(st, s);
            set(st, dst, p);
        }
        Insn::Alu64 {
            op: AluOp::Mov,
            dst,
            src: Src::Imm(k),
        } => set(st, dst, Ptr::Const(i64::from(k))),
        Insn::Alu64 {
            op: op @ (AluOp::Add | AluOp::Sub),
            dst,
            src: Src::Imm(c),
        } => {
            let c = if op == AluOp::Add {
                i64::from(c)
            } else {
                -i64::from(c)
            };
            let p = match reg(st, dst) {
                Ptr::Stack { k, var, carrier } => Ptr::Stack {
                    k: k + c,
                    var,
                    carrier: carrier.or(Some(i)),
                },
                Ptr::Const(x) => Ptr::Const(x.wrapping_add(c)),
                Ptr::Unknown => Ptr::Unknown,
                Ptr::No | Ptr::Map(_) => Ptr::No,
            };
            set(st, dst, p);
        }
        Insn::Alu64 {
            op: AluOp::Add,
            dst,
            src: Src::Reg(s),
        } => {
            // An element address: a checked index plus the array's base (`lower/index.rs`).
            let p = match (reg(st, dst), reg(st, s)) {
                (Ptr::Stack { k, carrier, .. }, Ptr::No | Ptr::Const(_))
                | (Ptr::No | Ptr::Const(_), Ptr::Stack { k, carrier, .. }) => Ptr::Stack {
                    k,
                    var: true,
                    carrier,
                },
                (a, b) if a.is_stack() || b.is_stack() => Ptr::Unknown,
                _ => Ptr::No,
            };
            set(st, dst, p);
        }
        Insn::Alu64 { dst, src, .. } | Insn::Alu32 { dst, src, .. } => {
            let from_src = match src {
                Src::Reg(s) => reg(st, s),
                Src::Imm(_) => Ptr::No,
            };
            let p = if reg(st, dst).is_stack() || from_src.is_stack() {
                Ptr::Unknown
            } else {
                Ptr::No
            };
            set(st, dst, p);
        }
        Insn::Sext32 { dst } | Insn::ToBe { dst, .. } => {
            let p = if reg(st, dst).is_stack() {
                Ptr::Unknown
            } else {
                Ptr::No
            };
            set(st, dst, p);
        }
        Insn::LdImm64 { dst, imm } => set(st, dst, Ptr::Const(imm)),
        Insn::LdMap { dst, map } => set(st, dst, Ptr::Map(map.0)),
        Insn::Ldx {
            size,
            dst,
            src,
            off,
        } => {
            if let Some(f) = found.as_deref_mut() {
                access(objs, f, i, reg(st, src), off, size, Mode::Read)?;
            }
            set(st, dst, Ptr::No);
        }
        Insn::St { size, dst, off, .. } => {
            if let Some(f) = found.as_deref_mut() {
                access(objs, f, i, reg(st, dst), off, size, Mode::Write)?;
            }
        }
        Insn::Stx {
            size,
            dst,
            src,
            off,
        }
        | Insn::AtomicAdd {
            size,
            dst,
            src,
            off,
        } => {
            // A stack address kept in memory escapes what this analysis follows.
            if reg(st, src).is_stack() {
                return Err(Unsupported);
            }
            // An atomic add reads what it writes.
            let mode = if matches!(insn, Insn::AtomicAdd { .. }) {
                Mode::Update
            } else {
                Mode::Write
            };
            if let Some(f) = found.as_deref_mut() {
                access(objs, f, i, reg(st, dst), off, size, mode)?;
            }
        }
        Insn::LdAbs { .. } | Insn::LdInd { .. } => {}
        Insn::Call { helper } => {
            let Some(found) = found else {
                for r in 0..=5 {
                    set(st, R::P(Reg(r)), Ptr::No);
                }
                return Ok(());
            };
            let map = match reg(st, R::P(Reg::R1)) {
                Ptr::Map(m) => maps.get(m as usize).copied(),
                _ => None,
            };
            for (a, kind) in helper.arg_kinds().iter().enumerate() {
                let arg = reg(st, R::P(Reg(a as u8 + 1)));
                let (k, var, carrier) = match arg {
                    Ptr::Stack { k, var, carrier } => (k, var, carrier),
                    Ptr::Unknown => return Err(Unsupported),
                    Ptr::No | Ptr::Const(_) | Ptr::Map(_) => continue,
                };
                // The address was computed before the call: its constant is elsewhere.
                let carrier = carrier.ok_or(Unsupported)?;
                let size = match *kind {
                    ArgKind::Value => continue,
                    ArgKind::Writes => None,
                    ArgKind::MapKey => map.map(|(k, _)| i64::from(k)),
                    ArgKind::MapValue => map.map(|(_, v)| i64::from(v)),
                    ArgKind::Reads(n) | ArgKind::ReadsUnsafe(n) => match reg(st, R::P(Reg(n))) {
                        Ptr::Const(c) => Some(c),
                        _ => None,
                    },
                };
                let (obj, _) = objs.at(k, 1)?;
                note_carrier(found, carrier, obj)?;
                let whole = objs.bytes(obj);
                let e = &mut found.effects[i];
                match (kind, size) {
                    (ArgKind::Writes, _) => e.writes.push(obj),
                    (_, Some(n)) if !var => {
                        let (o2, range) = objs.at(k, n)?;
                        if o2 != obj {
                            return Err(Unsupported);
                        }
                        e.reads.push(range);
                    }
                    _ => e.reads.push(whole),
                }
            }
        }
        Insn::Ja { .. } | Insn::Jmp { .. } | Insn::Exit => {}
    }
    if clobbers(insn) {
        for r in 0..=5 {
            set(st, R::P(Reg(r)), Ptr::No);
        }
    }
    Ok(())
}

/// Resolves every stack access, or says the layout must stay.
fn analyse(code: &VCode, objs: &Objects, maps: &[(u32, u32)]) -> Result<Found, Unsupported> {
    let n = code.insns.len();
    let succs = code.successors();
    let mut states: Vec<Option<State>> = vec![None; n];
    states[0] = Some(State::new());
    let mut work = vec![0usize];
    while let Some(i) = work.pop() {
        let Some(mut st) = states[i].clone() else {
            continue;
        };
        step(objs, None, i, &mut st, &code.insns[i].insn, maps)?;
        for &s in &succs[i] {
            let changed = match &mut states[s] {
                Some(old) => join(old, &st),
                slot @ None => {
                    *slot = Some(st.clone());
                    true
                }
            };
            if changed {
                work.push(s);
            }
        }
    }
    let mut found = Found {
        effects: vec![Effect::default(); n],
        carriers: BTreeMap::new(),
        align: vec![1; objs.list.len()],
    };
    for (i, st) in states.iter().enumerate() {
        if let Some(st) = st {
            let mut st = st.clone();
            step(
                objs,
                Some(&mut found),
                i,
                &mut st,
                &code.insns[i].insn,
                maps,
            )?;
        }
    }
    Ok(found)
}

/// A set of stack bytes.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
struct Bytes([u64; FRAME / 64]);

impl Bytes {
    fn add(&mut self, r: std::ops::Range<usize>) {
        for b in r {
            self.0[b / 64] |= 1 << (b % 64);
        }
    }

    fn remove(&mut self, r: std::ops::Range<usize>) {
        for b in r {
            self.0[b / 64] &= !(1 << (b % 64));
        }
    }

    fn union(&mut self, o: &Bytes) {
        for (a, b) in self.0.iter_mut().zip(o.0) {
            *a |= b;
        }
    }

    fn any(&self, r: std::ops::Range<usize>) -> bool {
        r.into_iter().any(|b| self.0[b / 64] & (1 << (b % 64)) != 0)
    }
}

/// Per instruction, the bytes live after it; and those live at entry.
fn liveness(code: &VCode, found: &Found) -> (Vec<Bytes>, Bytes) {
    let n = code.insns.len();
    let succs = code.successors();
    let mut live_in = vec![Bytes::default(); n];
    let mut live_out = vec![Bytes::default(); n];
    let mut changed = true;
    while changed {
        changed = false;
        for i in (0..n).rev() {
            let mut out = Bytes::default();
            for &s in &succs[i] {
                out.union(&live_in[s]);
            }
            let mut inn = out;
            let e = &found.effects[i];
            for r in &e.kills {
                inn.remove(r.clone());
            }
            for r in &e.reads {
                inn.add(r.clone());
            }
            live_out[i] = out;
            if inn != live_in[i] {
                live_in[i] = inn;
                changed = true;
            }
        }
    }
    let entry = live_in.first().copied().unwrap_or_default();
    (live_out, entry)
}

/// New offsets for the objects, or `None` when they would not take fewer than `old` bytes
/// (rounded up to 8: spill slots come after them, 8-byte aligned).
fn place(
    objs: &Objects,
    found: &Found,
    live_out: &[Bytes],
    entry: &Bytes,
    old: u32,
) -> Option<Vec<u32>> {
    let m = objs.list.len();
    let mut clash = vec![vec![false; m]; m];
    let mut mark = |a: usize, b: usize| {
        if a != b {
            clash[a][b] = true;
            clash[b][a] = true;
        }
    };
    let live_objs =
        |live: &Bytes| -> Vec<usize> { (0..m).filter(|&o| live.any(objs.bytes(o))).collect() };
    for (e, live) in found.effects.iter().zip(live_out) {
        if e.writes.is_empty() {
            continue;
        }
        let live = live_objs(live);
        for &w in &e.writes {
            for &o in &live {
                mark(w, o);
            }
        }
    }
    let at_entry = live_objs(entry);
    for &a in &at_entry {
        for &b in &at_entry {
            mark(a, b);
        }
    }
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by_key(|&o| (std::cmp::Reverse(objs.list[o].size), objs.list[o].off));
    let mut new: Vec<Option<u32>> = vec![None; m];
    for &o in &order {
        let StackObject { size, opaque, .. } = objs.list[o];
        let align = found.align[o].max(1);
        let mut off = size.next_multiple_of(align);
        loop {
            let free = (0..m).all(|p| match new[p] {
                Some(q) if clash[o][p] => off <= q - objs.list[p].size || off - size >= q,
                _ => true,
            });
            if free && !(opaque && off % 8 == 0) {
                break;
            }
            off += align;
        }
        new[o] = Some(off);
    }
    let new: Vec<u32> = new.into_iter().map(|x| x.unwrap_or(0)).collect();
    let top = new.iter().copied().max().unwrap_or(0).next_multiple_of(8);
    (top < old).then_some(new)
}

/// Runs the pass in place; `maps` gives each map's key and value size, by map id.
pub fn run(code: &mut VCode, maps: &[(u32, u32)]) {
    if code.insns.is_empty() || code.objects.is_empty() {
        return;
    }
    let Ok(objs) = Objects::new(&code.objects) else {
        return;
    };
    // Every byte of the frame lowering reserved must belong to an object or be padding no
    // access touches (checked by `analyse`).
    let Ok(found) = analyse(code, &objs, maps) else {
        return;
    };
    let (live_out, entry) = liveness(code, &found);
    let Some(new) = place(&objs, &found, &live_out, &entry, code.stack_bytes) else {
        return;
    };
    for (&at, &obj) in &found.carriers {
        let delta = i64::from(objs.list[obj].off) - i64::from(new[obj]);
        match &mut code.insns[at].insn {
            Insn::Alu64 {
                op: AluOp::Add,
                src: Src::Imm(c),
                ..
            } => *c = (i64::from(*c) + delta) as i32,
            Insn::Alu64 {
                op: AluOp::Sub,
                src: Src::Imm(c),
                ..
            } => *c = (i64::from(*c) - delta) as i32,
            Insn::Ldx { off, .. }
            | Insn::St { off, .. }
            | Insn::Stx { off, .. }
            | Insn::AtomicAdd { off, .. } => *off = (i64::from(*off) + delta) as i16,
            other => unreachable!("not an offset carrier: {other:?}"),
        }
    }
    code.stack_bytes = new.iter().copied().max().unwrap_or(0).next_multiple_of(8);
    code.objects = objs
        .list
        .iter()
        .zip(&new)
        .map(|(o, &off)| StackObject { off, ..*o })
        .collect();
}

#[cfg(test)]
mod tests {
    use ljbpf_core::helper::Helper;
    use ljbpf_core::insn::{JmpOp, Label, MapId};

    use super::super::code::Rec;
    use super::*;

    const R0: R = R::P(Reg::R0);
    const R1: R = R::P(Reg::R1);
    const R2: R = R::P(Reg::R2);
    const R3: R = R::P(Reg::R3);
    const FP: R = R::P(Reg::R10);

    fn st(size: Size, off: i16) -> Insn<R> {
        Insn::St {
            size,
            dst: FP,
            off,
            imm: 1,
        }
    }

    fn ld(size: Size, off: i16) -> Insn<R> {
        Insn::Ldx {
            size,
            dst: R0,
            src: FP,
            off,
        }
    }

    /// `dst = r10 + off`, as lowering passes a stack object to a helper.
    fn addr(dst: R, off: i32) -> [Insn<R>; 2] {
        [
            Insn::Alu64 {
                op: AluOp::Mov,
                dst,
                src: Src::Reg(FP),
            },
            Insn::Alu64 {
                op: AluOp::Add,
                dst,
                src: Src::Imm(off),
            },
        ]
    }

    fn code(insns: Vec<Insn<R>>, labels: Vec<Option<usize>>, objects: &[(u32, u32)]) -> VCode {
        VCode {
            insns: insns.into_iter().map(|i| Rec::new(i, 1)).collect(),
            labels,
            vregs: 0,
            stack_bytes: objects.iter().map(|o| o.0).max().unwrap_or(0),
            objects: objects
                .iter()
                .map(|&(off, size)| StackObject {
                    off,
                    size,
                    opaque: false,
                })
                .collect(),
        }
    }

    fn lookup(key: i32) -> Vec<Insn<R>> {
        let mut v = vec![Insn::LdMap {
            dst: R1,
            map: MapId(0),
        }];
        v.extend(addr(R2, key));
        v.push(Insn::Call {
            helper: Helper::MapLookupElem,
        });
        v
    }

    /// A map key used before an 8-byte object is made: they take the same 8 bytes.
    #[test]
    fn objects_live_apart_share_bytes() {
        let mut insns = vec![st(Size::W, -16)];
        insns.extend(lookup(-16));
        insns.extend([st(Size::DW, -8), ld(Size::B, -8), Insn::Exit]);
        let mut c = code(insns, vec![], &[(8, 8), (16, 4)]);
        run(&mut c, &[(4, 8)]);
        assert_eq!(c.stack_bytes, 8);
        assert_eq!(c.insns[0].insn, st(Size::W, -4));
        assert_eq!(c.insns[3].insn, addr(R2, -4)[1]);
        assert_eq!(c.insns[5].insn, st(Size::DW, -8));
    }

    /// A 4-byte key and a 4-byte value handed to the same update share one 8-byte slot but no
    /// bytes.
    #[test]
    fn objects_live_together_pack_without_overlap() {
        let mut insns = vec![
            st(Size::W, -16),
            st(Size::W, -8),
            Insn::LdMap {
                dst: R1,
                map: MapId(0),
            },
        ];
        insns.extend(addr(R2, -16));
        insns.extend(addr(R3, -8));
        insns.extend([
            Insn::Call {
                helper: Helper::MapUpdateElem,
            },
            Insn::Exit,
        ]);
        let mut c = code(insns, vec![], &[(16, 4), (8, 4)]);
        run(&mut c, &[(4, 4)]);
        assert_eq!(c.stack_bytes, 8);
        let new: Vec<u32> = c.objects.iter().map(|o| o.off).collect();
        assert!(new == [8, 4] || new == [4, 8], "{new:?}");
    }

    /// An object read on a path where nothing wrote it is live from entry: what is written
    /// before that read does not share its bytes (frame zeroing gives it zeros there).
    #[test]
    fn read_before_write_shares_nothing_written_earlier() {
        let insns = vec![
            st(Size::DW, -16),
            ld(Size::DW, -16),
            Insn::Jmp {
                op: JmpOp::Jeq,
                dst: R0,
                src: Src::Imm(0),
                target: Label(0),
            },
            st(Size::DW, -8),
            ld(Size::DW, -8),
            Insn::Exit,
        ];
        let mut c = code(insns, vec![Some(4)], &[(8, 8), (16, 8)]);
        run(&mut c, &[]);
        assert_eq!(c.stack_bytes, 16);
    }

    /// An opaque object is never placed at a multiple of 8, where its store would be a spill
    /// the verifier follows: next to a live 4-byte object, it skips R10 - 8 for R10 - 12.
    #[test]
    fn opaque_objects_stay_off_multiples_of_8() {
        let insns = vec![
            st(Size::W, -4),
            st(Size::W, -20),
            ld(Size::W, -20),
            ld(Size::W, -4),
            Insn::Exit,
        ];
        let mut c = code(insns, vec![], &[(4, 4), (20, 4)]);
        c.objects[1].opaque = true;
        c.stack_bytes = 24;
        run(&mut c, &[]);
        assert_eq!(c.insns[1].insn, st(Size::W, -12));
        assert_eq!(c.stack_bytes, 16);
    }

    /// An access through a register that may point into either of two objects keeps the
    /// layout as it was.
    #[test]
    fn unknown_addresses_keep_the_layout() {
        let mut insns = vec![st(Size::DW, -16), st(Size::DW, -8)];
        insns.extend(addr(R2, -16));
        insns.push(Insn::Jmp {
            op: JmpOp::Jeq,
            dst: R0,
            src: Src::Imm(0),
            target: Label(0),
        });
        insns.extend(addr(R2, -8));
        insns.extend([
            Insn::Ldx {
                size: Size::DW,
                dst: R0,
                src: R2,
                off: 0,
            },
            Insn::Exit,
        ]);
        let before = code(insns, vec![Some(7)], &[(8, 8), (16, 8)]);
        let mut c = before.clone();
        run(&mut c, &[]);
        assert_eq!(c.stack_bytes, 16);
        assert_eq!(c.insns, before.insns);
    }
}
