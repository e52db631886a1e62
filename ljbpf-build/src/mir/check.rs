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
//! Physical operands of the virtual code (helper arguments, R0 at exit, the context copied
//! from R1 to R6, R10) are checked the same way, as one pseudo-value per physical register:
//! the allocator must not let a virtual register overwrite a pinned value before it is read.
//! (Without this, the checker accepted `r6 = r0` for `r6 = r1` at entry; found by comparing
//! its verdicts with the interpreter's.)
//!
//! Not modelled: stores through pointers other than R10 into spill slots (lowering never passes
//! spill slots to helpers or pointers).

use std::fmt;

use ljbpf_core::insn::{AluOp, Insn, Label, Reg, Size, Src};

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
    /// Physical registers the virtual code has written on every path (bit per register): a
    /// read of one it has not (e.g. `bpf_trace_printk`'s unused arguments R4, R5) reads an
    /// undefined value there too, so any value will do.
    pdef: u16,
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
        Bits::new(self.nv + 11)
    }

    /// The value index of an operand: a virtual register, or the pseudo-value of a physical one.
    fn value(&self, r: R) -> usize {
        match r {
            R::V(v) => v.0 as usize,
            R::P(p) => self.nv + p.0 as usize,
        }
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

    /// Carries out the moves the allocator elided just before instruction `at`, on an edge
    /// into it: all of them when control falls through (or enters the program there), only
    /// those after label `via` in the virtual code when a jump to `via` lands there. (A move
    /// elided just before a loop's head belongs to the loop's entry, not to its back edge.)
    fn elide(&self, st: &mut State, at: usize, via: Option<Label>) -> Result<(), CheckError> {
        let line = self.alloc.code.insns.get(at).map_or(0, |r| r.line);
        let err = |message: String| CheckError { line, at, message };
        let after = via.map_or(0, |l| {
            self.vcode
                .labels
                .get(l.0 as usize)
                .copied()
                .flatten()
                .unwrap_or(usize::MAX)
        });
        for &(pos, vi) in &self.alloc.elided {
            if pos != at || vi < after {
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
        Ok(())
    }

    fn step(&self, st: &mut State, at: usize) -> Result<(), CheckError> {
        let rec = &self.alloc.code.insns[at];
        let err = |message: String| CheckError {
            line: rec.line,
            at,
            message,
        };
        let insn = &rec.insn;
        let main = self.alloc.main[at].map(|vi| &self.vcode.insns[vi].insn);
        // Places the virtual operands are read from, before the instruction runs.
        let before = st.clone();
        let (reads, write) = self.transfer(st, insn);
        let Some(vinsn) = main else {
            return Ok(());
        };
        let (vuses, vdefs): (Vec<R>, Vec<R>) = uses_defs(vinsn);
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
            if let R::P(r) = u {
                if before.pdef & (1 << r.0) == 0 {
                    continue;
                }
            }
            if !self.get(&before, *p, self.value(*u)) {
                return Err(err(format!(
                    "{u} is read from {p:?}, which does not hold it"
                )));
            }
        }
        if clobbers(vinsn) {
            st.pdef &= !0b11_1110;
        }
        for d in &vdefs {
            if let R::P(r) = d {
                st.pdef |= 1 << r.0;
            }
            {
                let v = self.value(*d);
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
                self.define(st, v, &at_places);
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
    let mut entry = State {
        places: (0..places).map(|_| checker.empty()).collect(),
        pdef: (1 << 1) | (1 << 10),
    };
    // At entry R1 holds the context and R10 the frame pointer.
    for r in [Reg::R1, Reg::R10] {
        entry.places[r.0 as usize].set(checker.value(R::P(r)));
    }
    checker.elide(&mut entry, 0, None)?;
    state[0] = Some(entry);
    let mut work = vec![0usize];
    while let Some(i) = work.pop() {
        let Some(mut st) = state[i].clone() else {
            continue;
        };
        checker.step(&mut st, i)?;
        // Edges: falling through, and the jump (elided moves differ between them).
        let insn = &code.insns[i].insn;
        let mut edges: Vec<(usize, Option<Label>)> = Vec::new();
        if !insn.is_terminator() && i + 1 < n {
            edges.push((i + 1, None));
        }
        if let (Some(l), Some(t)) = (insn.target(), code.target_index(insn)) {
            if t < n {
                edges.push((t, Some(l)));
            }
        }
        for (s, via) in edges {
            let mut st = st.clone();
            checker.elide(&mut st, s, via)?;
            let next = match &state[s] {
                None => st.clone(),
                Some(old) => {
                    let mut m = old.clone();
                    for (a, b) in m.places.iter_mut().zip(&st.places) {
                        *a = a.intersect(b);
                    }
                    m.pdef &= st.pdef;
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

#[cfg(test)]
mod tests {
    //! The checker must accept the allocator's output and reject corrupted allocations: a
    //! virtual operand read from a register that does not hold it, a result written to the
    //! wrong register.

    use std::path::Path;

    use ljbpf_core::insn::{Insn, Reg, Src};

    use super::super::code::{VCode, R};
    use super::super::pipeline::{Pass, Stage};
    use super::super::regalloc::{self, Allocated};
    use crate::Options;

    const PROBE: &str = "
local counts = bpf.map('array', 4, 'uint32_t', 'uint64_t')
return {
  counts = counts,
  f = bpf.socket(function (skb)
    local a = pkt.ip.ttl
    local b = pkt.ip.tos
    local x = a + 7 - b * 3
    local y = 100 - a
    local n = counts[1]
    if n then x = x * 5 end
    if a > b then y = y * x else y = y - b end
    counts[2] = x
    return y % 256 + x
  end),
}
";

    /// The code register allocation reads (after `dce`) and its allocation.
    fn allocated() -> (VCode, Allocated) {
        let opts = Options {
            snapshots_after: vec![Pass::Dce],
            ..Options::default()
        };
        let probe = crate::compile_source(Path::new("check.lua"), PROBE, &opts)
            .unwrap_or_else(|d| panic!("{d}"));
        let Stage::Virtual(vcode) = probe.programs[0].snapshots[0].code.clone() else {
            panic!("dce leaves virtual code");
        };
        let alloc = regalloc::run(&vcode).unwrap_or_else(|e| panic!("{}", e.message));
        (vcode, alloc)
    }

    /// A register the allocated code never names: it holds no value anywhere.
    fn unused(alloc: &Allocated) -> Reg {
        let mut used = [false; 11];
        for rec in &alloc.code.insns {
            rec.insn.map_regs(|r| used[r.0 as usize] = true);
        }
        (2..=9)
            .map(Reg)
            .find(|r| !used[r.0 as usize])
            .expect("a free register")
    }

    /// The instruction with its source register replaced by `z`, when the virtual instruction
    /// it carries out reads a virtual register there.
    fn corrupt_use(insn: &Insn<Reg>, vinsn: &Insn<R>, z: Reg) -> Option<Insn<Reg>> {
        let virt = |r: &R| matches!(r, R::V(_));
        match (*insn, *vinsn) {
            (
                Insn::Alu64 {
                    op,
                    dst,
                    src: Src::Reg(_),
                },
                Insn::Alu64 {
                    src: Src::Reg(v), ..
                },
            ) if virt(&v) => Some(Insn::Alu64 {
                op,
                dst,
                src: Src::Reg(z),
            }),
            (
                Insn::Jmp {
                    op,
                    src: Src::Reg(s),
                    target,
                    ..
                },
                Insn::Jmp { dst: v, .. },
            ) if virt(&v) => Some(Insn::Jmp {
                op,
                dst: z,
                src: Src::Reg(s),
                target,
            }),
            (
                Insn::Jmp {
                    op,
                    src: Src::Imm(i),
                    target,
                    ..
                },
                Insn::Jmp { dst: v, .. },
            ) if virt(&v) => Some(Insn::Jmp {
                op,
                dst: z,
                src: Src::Imm(i),
                target,
            }),
            (Insn::Stx { size, dst, off, .. }, Insn::Stx { src: v, .. }) if virt(&v) => {
                Some(Insn::Stx {
                    size,
                    dst,
                    src: z,
                    off,
                })
            }
            _ => None,
        }
    }

    #[test]
    fn accepts_the_allocation() {
        let (vcode, alloc) = allocated();
        super::run(&vcode, &alloc).unwrap_or_else(|e| panic!("{e}"));
    }

    /// A move elided just before a loop's head (the loop variable given the register of its
    /// start value) happens on the way into the loop, not on its back edge. The checker once
    /// carried it out after the join and refused this loop (found by the fuzzer).
    #[test]
    fn a_move_elided_before_a_loop_head_belongs_to_the_entry_edge() {
        let src = "return { f = bpf.socket(function (skb)
  local v = time()
  while v < 10 do v = v + 1 end
  repeat v = v - 1 until v < 3
  return 0
end) }";
        let opts = Options {
            snapshots_after: vec![Pass::Dce],
            ..Options::default()
        };
        let probe = crate::compile_source(Path::new("loop.lua"), src, &opts)
            .unwrap_or_else(|d| panic!("{d}"));
        let Stage::Virtual(vcode) = probe.programs[0].snapshots[0].code.clone() else {
            panic!("dce leaves virtual code");
        };
        let alloc = regalloc::run(&vcode).unwrap_or_else(|e| panic!("{}", e.message));
        assert!(
            !alloc.elided.is_empty(),
            "the loop variable's move is elided"
        );
        super::run(&vcode, &alloc).unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn reports_every_read_from_a_register_that_does_not_hold_the_value() {
        let (vcode, alloc) = allocated();
        let z = unused(&alloc);
        let mut sites = 0;
        for (i, main) in alloc.main.iter().enumerate() {
            let Some(vi) = main else { continue };
            let Some(bad) = corrupt_use(&alloc.code.insns[i].insn, &vcode.insns[*vi].insn, z)
            else {
                continue;
            };
            sites += 1;
            let mut c = alloc.clone();
            c.code.insns[i].insn = bad;
            let err = super::run(&vcode, &c).err();
            assert!(
                err.as_ref().is_some_and(|e| e.at == i),
                "instruction {i} reading {z} instead: {err:?}\n{}",
                c.code.listing(&[])
            );
        }
        assert!(sites >= 5, "only {sites} corruptible reads");
    }

    #[test]
    fn reports_a_result_written_to_the_wrong_register() {
        let (vcode, alloc) = allocated();
        let z = unused(&alloc);
        let mut sites = 0;
        for (i, main) in alloc.main.iter().enumerate() {
            let Some(vi) = main else { continue };
            // An ALU result of a virtual register (read later: dce removed the others).
            let (Insn::Alu64 { op, src, .. }, Insn::Alu64 { dst: R::V(_), .. }) =
                (alloc.code.insns[i].insn, vcode.insns[*vi].insn)
            else {
                continue;
            };
            sites += 1;
            let mut c = alloc.clone();
            c.code.insns[i].insn = Insn::Alu64 { op, dst: z, src };
            assert!(
                super::run(&vcode, &c).is_err(),
                "instruction {i} writing {z} instead is accepted\n{}",
                c.code.listing(&[])
            );
        }
        assert!(sites >= 5, "only {sites} corruptible writes");
    }

    /// What the allocated code does on a few packets, in the interpreter (return value or
    /// fault, and the map's contents).
    fn behaviour(alloc: &Allocated) -> Vec<String> {
        use ljbpf_core::interp::{Machine, MapDef, Program};
        use ljbpf_core::map::MapKind;
        let def = MapDef {
            kind: MapKind::Array,
            key_size: 4,
            value_size: 8,
            max_entries: 4,
        };
        let prog = Program::from_labels(
            alloc.code.insns.iter().map(|r| r.insn).collect(),
            &alloc.code.labels,
        );
        let mut out = Vec::new();
        for (ttl, tos, n) in [(1u8, 2u8, 0u64), (9, 3, 7), (2, 200, 1), (255, 255, 3)] {
            let mut m = Machine::new(&[def]);
            let mut pkt = vec![0u8; 64];
            pkt[12] = 0x08;
            pkt[14] = 0x45;
            pkt[15] = tos;
            pkt[22] = ttl;
            m.set_context(Machine::skb_context(pkt.len() as u32, 0x0800));
            m.set_packet(pkt);
            m.map_set(0, &1u32.to_le_bytes(), &n.to_le_bytes());
            let r = m.run(&prog);
            out.push(format!("{r:?} {:?}", m.map_entries(0)));
        }
        out
    }

    /// Ground truth from the interpreter: every register substitution the checker accepts
    /// leaves the program's behaviour unchanged (the checker has no misses here), and it
    /// accepts some (copies of a value in two registers are legitimate).
    #[test]
    fn accepted_substitutions_do_not_change_behaviour() {
        let (vcode, alloc) = allocated();
        let want = behaviour(&alloc);
        let (mut accepted, mut rejected) = (0, 0);
        for i in 0..alloc.code.insns.len() {
            for z in (0..=9).map(Reg) {
                let insn = alloc.code.insns[i].insn;
                // Substitute every register operand but R10 that differs from z, one at a time.
                let mut k = 0;
                loop {
                    let mut n = 0;
                    let mut changed = false;
                    let bad = insn.map_regs(|r| {
                        n += 1;
                        if n - 1 == k && r != Reg::R10 && r != z {
                            changed = true;
                            z
                        } else {
                            r
                        }
                    });
                    if n <= k {
                        break;
                    }
                    k += 1;
                    if !changed {
                        continue;
                    }
                    let mut c = alloc.clone();
                    c.code.insns[i].insn = bad;
                    if super::run(&vcode, &c).is_ok() {
                        accepted += 1;
                        assert_eq!(
                            behaviour(&c),
                            want,
                            "the checker accepts instruction {i} as {bad:?}, which changes \
                             behaviour\n{}",
                            c.code.listing(&[])
                        );
                    } else {
                        rejected += 1;
                    }
                }
            }
        }
        assert!(rejected > 50, "{rejected} rejected");
        assert!(accepted > 0, "no substitution accepted");
    }
}
