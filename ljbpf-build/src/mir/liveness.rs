//! Live virtual registers per instruction (backward dataflow), shared by dead-code elimination
//! and register allocation.

use super::code::{clobbers, uses_defs, VCode, R};

/// A set of virtual registers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bits(Vec<u64>);

impl Bits {
    /// The empty set over `n` registers.
    pub fn new(n: usize) -> Bits {
        Bits(vec![0; n.div_ceil(64)])
    }
    /// Adds `i`.
    pub fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    /// Removes `i`.
    pub fn clear(&mut self, i: usize) {
        self.0[i / 64] &= !(1 << (i % 64));
    }
    /// Whether `i` is in the set.
    pub fn get(&self, i: usize) -> bool {
        self.0[i / 64] & (1 << (i % 64)) != 0
    }
    /// The members of both.
    pub fn intersect(&self, o: &Bits) -> Bits {
        Bits(self.0.iter().zip(&o.0).map(|(a, b)| a & b).collect())
    }
    /// The members, in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().enumerate().flat_map(|(w, &word)| {
            (0..64)
                .filter(move |b| word & (1 << b) != 0)
                .map(move |b| w * 64 + b)
        })
    }
    /// How many members.
    pub fn count(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }
    /// Adds every member of `o`; whether that changed anything.
    pub fn union(&mut self, o: &Bits) -> bool {
        let mut changed = false;
        for (a, b) in self.0.iter_mut().zip(&o.0) {
            let n = *a | *b;
            changed |= n != *a;
            *a = n;
        }
        changed
    }
}

/// The virtual registers among `rs`, as indexes.
pub fn vregs(rs: &[R]) -> impl Iterator<Item = usize> + '_ {
    rs.iter().filter_map(|r| match r {
        R::V(v) => Some(v.0 as usize),
        R::P(_) => None,
    })
}

/// Live-in and live-out sets of virtual registers per instruction.
pub fn liveness(code: &VCode) -> (Vec<Bits>, Vec<Bits>) {
    let n = code.insns.len();
    let nv = code.vregs as usize;
    let succs = code.successors();
    let ud: Vec<(Vec<R>, Vec<R>)> = code.insns.iter().map(|r| uses_defs(&r.insn)).collect();
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
            let mut inn = out.clone();
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

/// Physical registers live after each instruction (bit r = register r), backward dataflow.
/// Calls and legacy packet loads write R0-R5 (the helper ABI clobbers them), so nothing
/// pinned before one is live after it.
pub fn physical_live_out(code: &VCode) -> Vec<u16> {
    let n = code.insns.len();
    let succs = code.successors();
    let ud: Vec<(u16, u16)> = code
        .insns
        .iter()
        .map(|rec| {
            let (uses, defs) = uses_defs(&rec.insn);
            let mask = |rs: &[R]| {
                rs.iter().fold(0u16, |m, r| match r {
                    R::P(p) => m | 1 << p.0,
                    R::V(_) => m,
                })
            };
            let clobbered = if clobbers(&rec.insn) { 0b11_1111 } else { 0 };
            (mask(&uses), mask(&defs) | clobbered)
        })
        .collect();
    let mut live_in = vec![0u16; n];
    let mut live_out = vec![0u16; n];
    let mut changed = true;
    while changed {
        changed = false;
        for i in (0..n).rev() {
            let out = succs[i].iter().fold(0u16, |m, &s| m | live_in[s]);
            let inn = (out & !ud[i].1) | ud[i].0;
            live_out[i] = out;
            if inn != live_in[i] {
                live_in[i] = inn;
                changed = true;
            }
        }
    }
    live_out
}
