//! Frame set-up: writes zeros at entry into the stack slots some path may read before anything
//! writes them, so every slot a read can reach exists on every path.
//!
//! Nothing ljbpf generates depends on those zeros (lowering writes every object before use;
//! the interpreter runs code after this pass on a stack that is not zeroed to prove it). They
//! are for the verifier. Linux 6.18's verifier reported an internal "verifier bug: stack slot
//! N, total slots M (i >= func->allocated_stack / BPF_REG_SIZE)" when precision tracking walked
//! back from a state whose stack had grown (a slot first written on one branch) into one whose
//! had not (found by the random difftest; `tests/corpus/regress_stack_join.lua`). Writing the
//! deepest slot at entry sizes every state's stack to the whole frame; beyond it, only slots a
//! path may read before writing them get zeros, not the whole frame.
//!
//! The analysis is forward and must-style: per stack byte, "written on every path to here"
//! (intersection at joins). Reads are loads and atomic adds through R10 (or through a register
//! known to hold R10 + k), and, conservatively, everything not yet written from a stack pointer
//! handed to a helper up to the frame top, or the whole frame for an access through a register
//! that may point into the stack at an unknown place.

use ljbpf_core::helper::ArgKind;
use ljbpf_core::insn::{AluOp, Insn, Reg, Size, Src};

use super::code::{PCode, Rec};

/// The BPF stack size.
const FRAME: usize = ljbpf_core::insn::MAX_STACK as usize;

/// What a register holds, as far as stack reads go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ptr {
    /// Not a stack address (a value we do not track).
    No,
    /// R10 + k (k < 0).
    At(i64),
    /// Maybe a stack address, place unknown.
    Unknown,
    /// The address of map `n` (helpers read its key and value sizes).
    Map(u32),
    /// A known constant (helpers read sizes from them).
    Const(i64),
}

impl Ptr {
    fn join(self, o: Ptr) -> Ptr {
        match (self, o) {
            (a, b) if a == b => a,
            (Ptr::At(_) | Ptr::Unknown, _) | (_, Ptr::At(_) | Ptr::Unknown) => Ptr::Unknown,
            _ => Ptr::No,
        }
    }

    fn is_stack(self) -> bool {
        matches!(self, Ptr::At(_) | Ptr::Unknown)
    }
}

#[derive(Clone, PartialEq, Eq)]
struct State {
    /// Per byte below R10 (index 0 is R10 - 1): written on every path.
    written: Vec<bool>,
    regs: [Ptr; 11],
    /// Stack addresses spilled to 8-byte slots, by R10 offset.
    spilled: std::collections::BTreeMap<i64, Ptr>,
}

impl State {
    fn join(&mut self, o: &State) -> bool {
        let before = self.clone();
        for (a, b) in self.written.iter_mut().zip(&o.written) {
            *a &= *b;
        }
        for (a, b) in self.regs.iter_mut().zip(&o.regs) {
            *a = a.join(*b);
        }
        let keys: Vec<i64> = self
            .spilled
            .keys()
            .chain(o.spilled.keys())
            .copied()
            .collect();
        for k in keys {
            let a = self.spilled.get(&k).copied().unwrap_or(Ptr::No);
            let b = o.spilled.get(&k).copied().unwrap_or(Ptr::No);
            match a.join(b) {
                Ptr::No => self.spilled.remove(&k),
                p => self.spilled.insert(k, p),
            };
        }
        *self != before
    }
}

/// Byte indexes (0 = R10 - 1) of `size` bytes at R10 + `off`.
fn bytes(off: i64, size: u32) -> std::ops::Range<usize> {
    let lo = (-(off + i64::from(size))).clamp(0, FRAME as i64) as usize;
    let hi = (-off).clamp(0, FRAME as i64) as usize;
    lo..hi
}

struct Needed(Vec<bool>);

impl Needed {
    /// Marks every byte in `range` not written on every path as needing zeros.
    fn read(&mut self, st: &State, range: std::ops::Range<usize>) {
        for b in range {
            if !st.written[b] {
                self.0[b] = true;
            }
        }
    }
}

/// Records what a store through R10 leaves in its slot (other stores cannot overwrite a spill
/// slot: lowering never hands out their addresses).
fn spill(st: &mut State, base: Reg, off: i16, p: Ptr) {
    if base != Reg::R10 {
        return;
    }
    match p {
        Ptr::No => st.spilled.remove(&i64::from(off)),
        p => st.spilled.insert(i64::from(off), p),
    };
}

fn step(st: &mut State, insn: &Insn<Reg>, maps: &[(u32, u32)], needed: &mut Needed) {
    let reg = |st: &State, r: Reg| st.regs.get(r.0 as usize).copied().unwrap_or(Ptr::No);
    let set = |st: &mut State, r: Reg, p: Ptr| {
        if let Some(x) = st.regs.get_mut(r.0 as usize) {
            *x = p;
        }
    };
    // A memory access at `base + off` of `size` bytes.
    let access =
        |st: &mut State, needed: &mut Needed, base: Reg, off: i16, size: Size, read, write| {
            match reg(st, base) {
                Ptr::At(k) => {
                    let range = bytes(k + i64::from(off), size.bytes());
                    if read {
                        needed.read(st, range.clone());
                    }
                    if write {
                        for b in range {
                            st.written[b] = true;
                        }
                    }
                }
                Ptr::Unknown if read => needed.read(st, 0..FRAME),
                Ptr::Unknown | Ptr::No | Ptr::Map(_) | Ptr::Const(_) => {}
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
            op: AluOp::Add,
            dst,
            src: Src::Imm(k),
        } => {
            let p = match reg(st, dst) {
                Ptr::At(o) => Ptr::At(o + i64::from(k)),
                p => p,
            };
            set(st, dst, p);
        }
        Insn::Alu64 {
            op: AluOp::Sub,
            dst,
            src: Src::Imm(k),
        } => {
            let p = match reg(st, dst) {
                Ptr::At(o) => Ptr::At(o - i64::from(k)),
                p => p,
            };
            set(st, dst, p);
        }
        Insn::Alu64 { dst, src, .. } | Insn::Alu32 { dst, src, .. } => {
            // Arithmetic on a stack address with a register leaves a stack address somewhere.
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
            access(st, needed, src, off, size, true, false);
            // A stack address comes back from the slot it was spilled to.
            let p = match (src, size) {
                (Reg::R10, Size::DW) => st.spilled.get(&i64::from(off)).copied().unwrap_or(Ptr::No),
                _ => Ptr::No,
            };
            set(st, dst, p);
        }
        Insn::St { size, dst, off, .. } => {
            spill(st, dst, off, Ptr::No);
            access(st, needed, dst, off, size, false, true);
        }
        Insn::Stx {
            size,
            dst,
            src,
            off,
        } => {
            let p = match (size, reg(st, src)) {
                (Size::DW, p) if p.is_stack() => p,
                _ => Ptr::No,
            };
            spill(st, dst, off, p);
            access(st, needed, dst, off, size, false, true);
        }
        Insn::AtomicAdd { size, dst, off, .. } => access(st, needed, dst, off, size, true, true),
        Insn::LdAbs { .. } | Insn::LdInd { .. } => {
            for r in 0..=5 {
                set(st, Reg(r), Ptr::No);
            }
        }
        Insn::Call { helper } => {
            // What the helper reads through its pointer arguments (ljbpf_core's helper table);
            // what it writes there is not counted as written.
            let map = match reg(st, Reg::R1) {
                Ptr::Map(m) => maps.get(m as usize).copied(),
                _ => None,
            };
            for (i, kind) in helper.arg_kinds().iter().enumerate() {
                let arg = reg(st, Reg(i as u8 + 1));
                let size = match *kind {
                    ArgKind::Value | ArgKind::Writes => continue,
                    ArgKind::MapKey => map.map(|(k, _)| i64::from(k)),
                    ArgKind::MapValue => map.map(|(_, v)| i64::from(v)),
                    ArgKind::Reads(n) | ArgKind::ReadsUnsafe(n) => match reg(st, Reg(n)) {
                        Ptr::Const(c) => Some(c),
                        _ => None,
                    },
                };
                match (arg, size) {
                    (Ptr::At(k), Some(size)) => {
                        needed.read(st, bytes(k, size.clamp(0, FRAME as i64) as u32))
                    }
                    (Ptr::At(k), None) => needed.read(st, bytes(k, (-k).max(0) as u32)),
                    (Ptr::Unknown, _) => needed.read(st, 0..FRAME),
                    (Ptr::No | Ptr::Map(_) | Ptr::Const(_), _) => {}
                }
            }
            for r in 0..=5 {
                set(st, Reg(r), Ptr::No);
            }
        }
        Insn::Ja { .. } | Insn::Jmp { .. } | Insn::Exit => {}
    }
}

/// The 8-byte slots (by offset below R10: 8, 16, ...) that need zeros at entry.
fn slots_to_zero(code: &PCode, maps: &[(u32, u32)]) -> Vec<u32> {
    let n = code.insns.len();
    if n == 0 {
        return Vec::new();
    }
    let mut entry = State {
        written: vec![false; FRAME],
        regs: [Ptr::No; 11],
        spilled: std::collections::BTreeMap::new(),
    };
    entry.regs[10] = Ptr::At(0);
    let mut states: Vec<Option<State>> = vec![None; n];
    states[0] = Some(entry);
    let succs = code.successors();
    let mut needed = Needed(vec![false; FRAME]);
    let mut work = vec![0usize];
    while let Some(i) = work.pop() {
        let Some(mut st) = states[i].clone() else {
            continue;
        };
        step(&mut st, &code.insns[i].insn, maps, &mut needed);
        for &s in &succs[i] {
            let changed = match &mut states[s] {
                Some(old) => old.join(&st),
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
    // The deepest slot is always written: the verifier sizes a state's stack by the deepest
    // write it has seen, and Linux 6.18 tripped over states of different sizes (above). A
    // store into it that every path runs first, before any branch or call, already does that.
    let top = (code.stack_bytes as usize)
        .min(FRAME)
        .next_multiple_of(8)
        .min(FRAME);
    let sized = code
        .insns
        .iter()
        .take_while(|r| {
            r.insn.target().is_none()
                && !r.insn.is_terminator()
                && !matches!(r.insn, Insn::Call { .. })
        })
        .any(|r| match r.insn {
            Insn::St {
                dst: Reg::R10, off, ..
            }
            | Insn::Stx {
                dst: Reg::R10, off, ..
            } => 8 - i64::from(off) > top as i64,
            _ => false,
        });
    (8..=top)
        .step_by(8)
        .filter(|&off| (off == top && !sized) || needed.0[off - 8..off].iter().any(|b| *b))
        .map(|off| off as u32)
        .collect()
}

/// Runs the pass in place; `maps` gives each map's key and value size, by map id.
pub fn run(code: &mut PCode, maps: &[(u32, u32)]) {
    let entry_line = code.insns.first().map_or(0, |r| r.line);
    let stores: Vec<Rec<Reg>> = slots_to_zero(code, maps)
        .into_iter()
        .map(|off| {
            Rec::new(
                Insn::St {
                    size: Size::DW,
                    dst: Reg::R10,
                    off: -(off as i16),
                    imm: 0,
                },
                entry_line,
            )
        })
        .collect();
    let n = stores.len();
    code.insns.splice(0..0, stores);
    for l in code.labels.iter_mut().flatten() {
        *l += n;
    }
}

#[cfg(test)]
mod tests {
    use ljbpf_core::insn::{JmpOp, Label};

    use super::*;

    fn st(off: i16) -> Insn<Reg> {
        Insn::St {
            size: Size::DW,
            dst: Reg::R10,
            off,
            imm: 1,
        }
    }

    fn ld(off: i16) -> Insn<Reg> {
        Insn::Ldx {
            size: Size::DW,
            dst: Reg::R0,
            src: Reg::R10,
            off,
        }
    }

    /// `if r1 == 0 goto L; *(fp-16) = 1; L: r0 = *(fp-16); r0 = *(fp-8)` with fp-8 written
    /// first: only fp-16 (written on one path) and the deepest slot need zeros.
    #[test]
    fn only_slots_read_before_written_on_some_path() {
        let insns = vec![
            st(-8),
            Insn::Jmp {
                op: JmpOp::Jeq,
                dst: Reg::R1,
                src: Src::Imm(0),
                target: Label(0),
            },
            st(-16),
            ld(-16),
            ld(-8),
            Insn::Exit,
        ];
        let code = PCode {
            insns: insns.into_iter().map(|i| Rec::new(i, 1)).collect(),
            labels: vec![Some(3)],
            vregs: 0,
            stack_bytes: 32,
            objects: Vec::new(),
        };
        assert_eq!(slots_to_zero(&code, &[]), [16, 32]);
    }

    /// A map key handed to a helper is read for the key's size only.
    #[test]
    fn helpers_read_what_the_table_says() {
        use ljbpf_core::helper::Helper;
        use ljbpf_core::insn::MapId;
        let insns = vec![
            Insn::St {
                size: Size::W,
                dst: Reg::R10,
                off: -8,
                imm: 0,
            },
            Insn::LdMap {
                dst: Reg::R1,
                map: MapId(0),
            },
            Insn::Alu64 {
                op: AluOp::Mov,
                dst: Reg::R2,
                src: Src::Reg(Reg::R10),
            },
            Insn::Alu64 {
                op: AluOp::Add,
                dst: Reg::R2,
                src: Src::Imm(-8),
            },
            Insn::Call {
                helper: Helper::MapLookupElem,
            },
            Insn::Exit,
        ];
        let code = PCode {
            insns: insns.into_iter().map(|i| Rec::new(i, 1)).collect(),
            labels: vec![],
            vregs: 0,
            stack_bytes: 8,
            objects: Vec::new(),
        };
        // A 4-byte key was written, first thing, into the deepest slot: nothing needs zeros.
        assert_eq!(slots_to_zero(&code, &[(4, 8)]), Vec::<u32>::new());
        // An 8-byte key reads 4 bytes nothing wrote.
        let mut wide = code.clone();
        wide.stack_bytes = 16;
        assert_eq!(slots_to_zero(&wide, &[(8, 8)]), [8, 16]);
    }
}
