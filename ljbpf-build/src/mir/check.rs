//! The register-allocation checker: proves that every read of a virtual register in the
//! allocated code reads the value that virtual register holds.
//!
//! Abstract interpretation over the allocated code: each physical register and each 8-byte
//! stack slot holds a set of virtual registers whose current value it contains. Moves, spills
//! and reloads copy sets; any other write empties the written place; calls and legacy packet
//! loads empty R0–R5. At an instruction that carries out a virtual-code instruction, each
//! virtual operand must be in the set of the place the allocated instruction reads, and each
//! virtual result then lives (only) in the place it writes. Joins intersect. Like regalloc2's
//! checker, it trusts the allocator for nothing but the provenance record.
//!
//! Not modelled: stores through pointers other than R10 into spill slots (lowering never passes
//! spill slots to helpers or pointers).

use std::fmt;

use ljbpf_core::insn::{AluOp, Insn, Reg, Size, Src};

use super::code::{clobbers, uses_defs, VCode, R};
use super::liveness::Bits;
use super::regalloc::Allocated;

/// A place a value can be in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    Reg(u8),
    /// The 8-byte stack slot at `r10 - 8 * (n + 1)`.
    Slot(usize),
}

/// A failed check: a compiler bug.
#[derive(Clone, Debug)]
pub struct CheckError {
    /// The Lua line of the instruction.
    pub line: u32,
    /// Index of the allocated instruction.
    pub at: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "register allocation check failed at instruction {} (line {}): {}",
            self.at, self.line, self.message
        )
    }
}

#[derive(Clone, PartialEq, Eq)]
struct State {
    places: Vec<Bits>,
}

struct Checker<'a> {
    vcode: &'a VCode,
    alloc: &'a Allocated,
    nv: usize,
    slots: usize,
}

impl Checker<'_> {
    fn index(&self, p: Place) -> Option<usize> {
        match p {
            Place::Reg(r) if r <= 10 => Some(r as usize),
            Place::Slot(s) if s < self.slots => Some(11 + s),
            _ => None,
        }
    }

    fn slot(off: i16) -> Option<usize> {
        (off < 0 && off % 8 == 0).then(|| (-(off as i32) / 8 - 1) as usize)
    }

    fn get(&self, st: &State, p: Place, v: usize) -> bool {
        self.index(p).is_some_and(|i| st.places[i].get(v))
    }

    fn set_place(&self, st: &mut State, p: Place, b: Bits) {
        if let Some(i) = self.index(p) {
            st.places[i] = b;
        }
    }

    fn empty(&self) -> Bits {
        Bits::new(self.nv)
    }

    fn copy(&self, st: &mut State, from: Place, to: Place) {
        let b = self
            .index(from)
            .map_or_else(|| self.empty(), |i| st.places[i].clone());
        self.set_place(st, to, b);
    }

    /// Makes `v` live only in the places of `at` (after a definition).
    fn define(&self, st: &mut State, v: usize, at: &[Place]) {
        for b in st.places.iter_mut() {
            b.clear(v);
        }
        for p in at {
            if let Some(i) = self.index(*p) {
                st.places[i].set(v);
            }
        }
    }

    /// Data movement of one allocated instruction, and the places it reads and writes.
    fn transfer(&self, st: &mut State, insn: &Insn<Reg>) -> (Vec<Place>, Option<Place>) {
        let stack = |off: i16| Self::slot(off).map(Place::Slot);
        match *insn {
            Insn::Alu64 {
                op: AluOp::Mov,
                dst,
                src: Src::Reg(s),
            } => {
                self.copy(st, Place::Reg(s.0), Place::Reg(dst.0));
                (vec![Place::Reg(s.0)], Some(Place::Reg(dst.0)))
            }
            Insn::Ldx {
                size: Size::DW,
                dst,
                src: Reg::R10,
                off,
            } => {
                let from = stack(off);
                match from {
                    Some(f) => self.copy(st, f, Place::Reg(dst.0)),
                    None => self.set_place(st, Place::Reg(dst.0), self.empty()),
                }
                (from.into_iter().collect(), Some(Place::Reg(dst.0)))
            }
            Insn::Stx {
                size,
                dst: Reg::R10,
                src,
                off,
            } => {
                let to = stack(off);
                if let Some(t) = to {
                    if size == Size::DW {
                        self.copy(st, Place::Reg(src.0), t);
                    } else {
                        self.set_place(st, t, self.empty());
                    }
                }
                (vec![Place::Reg(src.0)], to)
            }
            Insn::St {
                dst: Reg::R10, off, ..
            } => {
                let to = stack(off);
                if let Some(t) = to {
                    self.set_place(st, t, self.empty());
                }
                (vec![], to)
            }
            _ => {
                let (uses, defs) = uses_defs(insn);
                if clobbers(insn) {
                    for r in 0..=5 {
                        self.set_place(st, Place::Reg(r), self.empty());
                    }
                }
                for d in &defs {
                    self.set_place(st, Place::Reg(d.0), self.empty());
                }
                (
                    uses.iter().map(|r| Place::Reg(r.0)).collect(),
                    defs.first().map(|r| Place::Reg(r.0)),
                )
            }
        }
    }

    fn step(&self, st: &mut State, at: usize) -> Result<(), CheckError> {
        let rec = &self.alloc.code.insns[at];
        let err = |message: String| CheckError {
            line: rec.line,
            at,
            message,
        };
        for &(pos, vi) in &self.alloc.elided {
            if pos != at {
                continue;
            }
            let Insn::Alu64 {
                op: AluOp::Mov,
                dst,
                src: Src::Reg(src),
            } = self.vcode.insns[vi].insn
            else {
                return Err(err(format!("elided instruction {vi} is not a move")));
            };
            let holders: Vec<Place> = match src {
                R::V(s) => (0..st.places.len())
                    .filter(|&i| st.places[i].get(s.0 as usize))
                    .map(|i| {
                        if i <= 10 {
                            Place::Reg(i as u8)
                        } else {
                            Place::Slot(i - 11)
                        }
                    })
                    .collect(),
                R::P(p) => vec![Place::Reg(p.0)],
            };
            if let R::V(d) = dst {
                if holders.is_empty() {
                    return Err(err(format!("elided move {dst} = {src}: {src} is nowhere")));
                }
                self.define(st, d.0 as usize, &holders);
            }
        }
        let insn = &rec.insn;
        let main = self.alloc.main[at].map(|vi| &self.vcode.insns[vi].insn);
        // Places the virtual operands are read from, before the instruction runs.
        let before = st.clone();
        let (reads, write) = self.transfer(st, insn);
        let Some(vinsn) = main else {
            return Ok(());
        };
        let (vuses, vdefs) = uses_defs(vinsn);
        let (vuses, vdefs): (Vec<R>, Vec<R>) = (vuses, vdefs);
        let spill_move = matches!(vinsn, Insn::Alu64 { op: AluOp::Mov, .. })
            && !matches!(insn, Insn::Alu64 { .. });
        let read_places: Vec<Place> = if spill_move {
            reads
        } else {
            uses_defs(insn).0.iter().map(|r| Place::Reg(r.0)).collect()
        };
        if read_places.len() != vuses.len() {
            return Err(err(format!(
                "the allocated instruction reads {} places, the virtual one {}",
                read_places.len(),
                vuses.len()
            )));
        }
        for (u, p) in vuses.iter().zip(&read_places) {
            if let R::V(v) = u {
                if !self.get(&before, *p, v.0 as usize) {
                    return Err(err(format!(
                        "{u} is read from {p:?}, which does not hold it"
                    )));
                }
            }
        }
        for d in &vdefs {
            if let R::V(v) = d {
                let Some(w) = write else {
                    return Err(err(format!("{d} is defined but nothing is written")));
                };
                // A move keeps the value in its source too.
                let mut at_places = vec![w];
                if let (true, Some(src)) = (
                    matches!(
                        vinsn,
                        Insn::Alu64 {
                            op: AluOp::Mov,
                            src: Src::Reg(_),
                            ..
                        }
                    ),
                    read_places.first(),
                ) {
                    at_places.push(*src);
                }
                self.define(st, v.0 as usize, &at_places);
            }
        }
        Ok(())
    }
}

/// Checks an allocation of `vcode` (the code register allocation read).
pub fn run(vcode: &VCode, alloc: &Allocated) -> Result<(), CheckError> {
    let code = &alloc.code;
    let n = code.insns.len();
    let checker = Checker {
        vcode,
        alloc,
        nv: vcode.vregs as usize,
        slots: (code.stack_bytes as usize).div_ceil(8),
    };
    let places = 11 + checker.slots;
    let mut state: Vec<Option<State>> = vec![None; n + 1];
    if n == 0 {
        return Ok(());
    }
    state[0] = Some(State {
        places: (0..places).map(|_| checker.empty()).collect(),
    });
    let succs = code.successors();
    let mut work = vec![0usize];
    while let Some(i) = work.pop() {
        let Some(mut st) = state[i].clone() else {
            continue;
        };
        checker.step(&mut st, i)?;
        for &s in &succs[i] {
            let next = match &state[s] {
                None => st.clone(),
                Some(old) => {
                    let mut m = old.clone();
                    for (a, b) in m.places.iter_mut().zip(&st.places) {
                        *a = a.intersect(b);
                    }
                    m
                }
            };
            if state[s].as_ref() != Some(&next) {
                state[s] = Some(next);
                work.push(s);
            }
        }
    }
    Ok(())
}
