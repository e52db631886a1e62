//! Machine code over virtual registers: BPF instructions as records (instruction + Lua line +
//! relocation) with symbolic labels, before and after register allocation.

use std::fmt;

use ljbpf_core::insn::{Insn, Label, Reg, Show, Src};

/// A virtual register, assigned a physical register or a stack slot by `mir::regalloc`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VReg(pub u32);

/// An operand register before allocation: virtual, or pinned to a physical register (helper
/// arguments, return values, the frame pointer, the context in R6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum R {
    /// Virtual.
    V(VReg),
    /// Physical.
    P(Reg),
}

impl fmt::Display for R {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            R::V(v) => write!(f, "v{}", v.0),
            R::P(r) => write!(f, "{r}"),
        }
    }
}

/// A register operand type: virtual-or-physical ([`R`]) before allocation, [`Reg`] after.
pub trait Operand: Copy + PartialEq + fmt::Display {
    /// The operand that names physical register `r`.
    fn phys(r: Reg) -> Self;
}

impl Operand for R {
    fn phys(r: Reg) -> Self {
        R::P(r)
    }
}

impl Operand for Reg {
    fn phys(r: Reg) -> Self {
        r
    }
}

/// What an instruction's immediate or offset means beyond its value: the loader rewrites it for
/// the kernel that loads the program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reloc {
    /// The offset (of a load) or immediate (of an address addition) is inside field `field`
    /// of the record of tracepoint `event`, which was at `offset` with `size` bytes in the
    /// layout compiled against.
    TracepointField {
        /// `category/name`.
        event: String,
        /// The field's name in the event's format.
        field: String,
        /// The field's offset at build time.
        offset: u32,
        /// The field's size at build time.
        size: u32,
        /// Whether the instruction is where a string field starts
        /// ([`ljbpf_core::reloc::RelocKind::StringStart`]) rather than an offset in it.
        string: bool,
    },
    /// The immediate (of an address addition) is the byte offset of member `member` of kernel
    /// struct (or union) `root`, from the build kernel's BTF: a CO-RE record in `.BTF.ext`
    /// makes the loader write the loading kernel's offset.
    KernelField {
        /// The struct's or union's name in the kernel's BTF.
        root: String,
        /// A union rather than a struct.
        is_union: bool,
        /// Its size at build time.
        size: u32,
        /// The member's name.
        member: String,
        /// The member's offset at build time.
        offset: u32,
        /// The member's type.
        ty: crate::ctype::CType,
    },
}

/// One instruction as it travels from lowering to the ELF writer, the listing and line info.
#[derive(Clone, Debug, PartialEq)]
pub struct Rec<X> {
    /// The instruction.
    pub insn: Insn<X>,
    /// The Lua line it came from.
    pub line: u32,
    /// What the loader must fix in it, if anything.
    pub reloc: Option<Reloc>,
}

/// The basic blocks of some code, from [`Code::blocks`].
pub struct Blocks {
    /// The first instruction of each block, then the code's length.
    pub starts: Vec<usize>,
    /// The block of each instruction, then the number of blocks.
    pub block_of: Vec<usize>,
}

impl<X> Rec<X> {
    /// A record with no relocation.
    pub fn new(insn: Insn<X>, line: u32) -> Rec<X> {
        Rec {
            insn,
            line,
            reloc: None,
        }
    }
}

/// Instructions with labels, over operand registers `X`.
#[derive(Clone, Debug)]
pub struct Code<X> {
    /// The instructions.
    pub insns: Vec<Rec<X>>,
    /// For each label, the index of the instruction it precedes.
    pub labels: Vec<Option<usize>>,
    /// Number of virtual registers used (before allocation).
    pub vregs: u32,
    /// Stack bytes used: objects and call buffers before allocation, plus spill slots after.
    pub stack_bytes: u32,
    /// The stack objects lowering made (ffi.new objects, strings, regions of the call buffer),
    /// which may overlap; every stack access of lowered code falls inside one of them.
    pub objects: Vec<StackObject>,
}

/// A stack object: `size` bytes from `r10 - off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StackObject {
    /// Its offset below R10.
    pub off: u32,
    /// Its size in bytes.
    pub size: u32,
    /// Bytes the verifier must take for data, never for a spilled register: a narrow store
    /// is a spill only at an offset that is a multiple of 8 (`check_stack_write_fixed_off`,
    /// Linux 6.1 to 6.18), so the object's offset never is one (the `reload` and `widen`
    /// passes make the verifier forget values through such bytes).
    pub opaque: bool,
}

impl<X> Default for Code<X> {
    fn default() -> Self {
        Code {
            insns: Vec::new(),
            labels: Vec::new(),
            vregs: 0,
            stack_bytes: 0,
            objects: Vec::new(),
        }
    }
}

/// Code over virtual registers (what lowering makes).
pub type VCode = Code<R>;

/// Code over physical registers (what register allocation makes).
pub type PCode = Code<Reg>;

impl<X: Operand> Code<X> {
    /// A fresh, unbound label.
    pub fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() as u32 - 1)
    }

    /// Binds `l` to the next instruction.
    pub fn bind(&mut self, l: Label) {
        self.labels[l.0 as usize] = Some(self.insns.len());
    }

    /// A new [opaque](StackObject::opaque) object of `width` bytes (1, 2 or 4) after the
    /// frame, as its offset from R10: the top bytes of an 8-byte slot of its own (`slots` may
    /// move it later). `None` when the stack is full.
    pub fn opaque_object(&mut self, width: u32) -> Option<i16> {
        let slot = self.stack_bytes.next_multiple_of(8);
        if slot + 8 > ljbpf_core::insn::MAX_STACK {
            return None;
        }
        self.objects.push(StackObject {
            off: slot + width,
            size: width,
            opaque: true,
        });
        self.stack_bytes = slot + 8;
        Some(-((slot + width) as i16))
    }

    /// Whether a jump may land on each instruction (some label is bound to it); one entry
    /// more for the end of the code.
    pub fn landed(&self) -> Vec<bool> {
        let mut landed = vec![false; self.insns.len() + 1];
        for &l in self.labels.iter().flatten() {
            if let Some(x) = landed.get_mut(l) {
                *x = true;
            }
        }
        landed
    }

    /// A fresh virtual register.
    pub fn vreg(&mut self) -> VReg {
        self.vregs += 1;
        VReg(self.vregs - 1)
    }

    /// Appends an instruction.
    pub fn push(&mut self, insn: Insn<X>, line: u32) {
        self.insns.push(Rec::new(insn, line));
    }

    /// The index of the instruction a jump lands on.
    pub fn target_index(&self, insn: &Insn<X>) -> Option<usize> {
        insn.target()
            .and_then(|l| self.labels.get(l.0 as usize).copied().flatten())
    }

    /// Successors of every instruction.
    pub fn successors(&self) -> Vec<Vec<usize>> {
        let n = self.insns.len();
        self.insns
            .iter()
            .enumerate()
            .map(|(i, rec)| {
                let mut s = Vec::new();
                if !rec.insn.is_terminator() && i + 1 < n {
                    s.push(i + 1);
                }
                if let Some(t) = self.target_index(&rec.insn) {
                    if t < n {
                        s.push(t);
                    }
                }
                s
            })
            .collect()
    }

    /// The basic blocks: they start at the entry, at every jump target and after every jump
    /// or exit. `starts` has the first instruction of each block and the code's length last;
    /// `block_of[i]` is the block of instruction `i` (`block_of[len]`: the number of blocks).
    pub fn blocks(&self) -> Blocks {
        let n = self.insns.len();
        let mut leader = vec![false; n + 1];
        leader[0] = true;
        leader[n] = true;
        for (i, rec) in self.insns.iter().enumerate() {
            if let Some(t) = self.target_index(&rec.insn) {
                leader[t.min(n)] = true;
            }
            if rec.insn.is_terminator() || rec.insn.target().is_some() {
                leader[i + 1] = true;
            }
        }
        let starts: Vec<usize> = (0..=n).filter(|&i| leader[i]).collect();
        let mut block_of = vec![0usize; n + 1];
        for (b, w) in starts.windows(2).enumerate() {
            block_of[w[0]..w[1]].fill(b);
        }
        block_of[n] = starts.len() - 1;
        Blocks { starts, block_of }
    }

    /// The loops, as `(head, end)`: the target of backward jumps and the last of them, in the
    /// order their first backward jump appears.
    pub fn loop_ranges(&self) -> Vec<(usize, usize)> {
        let mut ranges: Vec<(usize, usize)> = Vec::new();
        for (i, rec) in self.insns.iter().enumerate() {
            if let Some(t) = self.target_index(&rec.insn).filter(|&t| t <= i) {
                match ranges.iter_mut().find(|r| r.0 == t) {
                    Some(r) => r.1 = r.1.max(i),
                    None => ranges.push((t, i)),
                }
            }
        }
        ranges
    }

    /// Whether no jump from outside `head..=end` lands inside it past `head`: the loop is
    /// entered only at its head.
    pub fn entered_only_at_head(&self, head: usize, end: usize) -> bool {
        self.insns.iter().enumerate().all(|(i, rec)| {
            (head <= i && i <= end)
                || !self
                    .target_index(&rec.insn)
                    .is_some_and(|t| head < t && t <= end)
        })
    }

    /// How many loops (backward jumps) enclose each instruction.
    pub fn loop_depth(&self) -> Vec<u32> {
        let mut depth = vec![0u32; self.insns.len()];
        for (i, rec) in self.insns.iter().enumerate() {
            if let Some(t) = self.target_index(&rec.insn) {
                if t <= i {
                    for d in &mut depth[t..=i] {
                        *d += 1;
                    }
                }
            }
        }
        depth
    }

    /// Removes the instructions whose `keep` is false and moves every label to the instruction
    /// that now follows its place.
    pub fn retain(&mut self, keep: &[bool]) {
        let n = self.insns.len();
        let mut new_index = vec![0usize; n + 1];
        let mut kept = 0;
        for (i, k) in keep.iter().enumerate().take(n) {
            new_index[i] = kept;
            if *k {
                kept += 1;
            }
        }
        new_index[n] = kept;
        for l in self.labels.iter_mut() {
            *l = l.map(|i| new_index[i]);
        }
        let mut i = 0;
        self.insns.retain(|_| {
            i += 1;
            keep[i - 1]
        });
    }

    /// A forward must-analysis over sets kept as lists: `transfer(i, set)` turns the set on
    /// entry to instruction `i` into the set after it; where paths meet, what all of them have
    /// stays. The set on entry to each instruction (`None`: unreachable; the entry's is empty).
    pub fn must_forward<T: Copy + PartialEq>(
        &self,
        mut transfer: impl FnMut(usize, &mut Vec<T>),
    ) -> Vec<Option<Vec<T>>> {
        let n = self.insns.len();
        let succs = self.successors();
        let mut on_entry: Vec<Option<Vec<T>>> = vec![None; n];
        if n == 0 {
            return on_entry;
        }
        on_entry[0] = Some(Vec::new());
        let mut work = vec![0usize];
        while let Some(i) = work.pop() {
            let Some(mut set) = on_entry[i].clone() else {
                continue;
            };
            transfer(i, &mut set);
            for &s in &succs[i] {
                let next = match &on_entry[s] {
                    None => set.clone(),
                    Some(old) => old.iter().copied().filter(|x| set.contains(x)).collect(),
                };
                if on_entry[s].as_ref() != Some(&next) {
                    on_entry[s] = Some(next);
                    work.push(s);
                }
            }
        }
        on_entry
    }

    /// Replaces instructions: each `(i, with)` puts `with` (possibly nothing) in the place of
    /// instruction `i`. A label at `i` then marks the first instruction of `with`, or what
    /// follows when `with` is empty. Each `i` is replaced once.
    pub fn splice(&mut self, mut edits: Vec<(usize, Vec<Rec<X>>)>) {
        if edits.is_empty() {
            return;
        }
        edits.sort_by_key(|e| e.0);
        debug_assert!(
            edits.windows(2).all(|w| w[0].0 < w[1].0),
            "one edit per place"
        );
        let n = self.insns.len();
        let old = std::mem::take(&mut self.insns);
        let mut new_index = vec![0usize; n + 1];
        let mut edits = edits.into_iter().peekable();
        for (i, rec) in old.into_iter().enumerate() {
            new_index[i] = self.insns.len();
            match edits.next_if(|e| e.0 == i) {
                Some((_, with)) => self.insns.extend(with),
                None => self.insns.push(rec),
            }
        }
        new_index[n] = self.insns.len();
        for l in self.labels.iter_mut() {
            *l = l.map(|i| new_index[i]);
        }
    }

    /// The code in kernel syntax with labels and Lua lines (`ljbpf dump --after PASS`).
    pub fn listing(&self, maps: &[String]) -> String {
        let mut at: Vec<Vec<usize>> = vec![Vec::new(); self.insns.len() + 1];
        for (l, i) in self.labels.iter().enumerate() {
            if let Some(i) = i {
                if let Some(v) = at.get_mut(*i) {
                    v.push(l);
                }
            }
        }
        let mut out = String::new();
        for (i, rec) in self.insns.iter().enumerate() {
            for l in &at[i] {
                out.push_str(&format!("L{l}:\n"));
            }
            let show = Show {
                insn: &rec.insn,
                maps,
                jump: None,
            };
            out.push_str(&format!("{i:5} ; line {:<4} {show}\n", rec.line));
        }
        for l in &at[self.insns.len()] {
            out.push_str(&format!("L{l}:\n"));
        }
        out
    }
}

/// The registers an instruction reads and writes (the helper ABI of
/// Documentation/bpf/standardization/abi.rst: calls read R1..R(args) and write R0; LD_ABS and
/// LD_IND read the context in R6 and write R0).
pub fn uses_defs<X: Operand>(insn: &Insn<X>) -> (Vec<X>, Vec<X>) {
    use ljbpf_core::insn::AluOp;
    let src = |s: &Src<X>| match s {
        Src::Reg(r) => vec![*r],
        Src::Imm(_) => vec![],
    };
    match insn {
        Insn::Alu64 {
            op: AluOp::Mov,
            dst,
            src: s,
        }
        | Insn::Alu32 {
            op: AluOp::Mov,
            dst,
            src: s,
        } => (src(s), vec![*dst]),
        Insn::Alu64 { dst, src: s, .. } | Insn::Alu32 { dst, src: s, .. } => {
            let mut u = src(s);
            u.push(*dst);
            (u, vec![*dst])
        }
        Insn::Sext32 { dst } | Insn::ToBe { dst, .. } => (vec![*dst], vec![*dst]),
        Insn::LdImm64 { dst, .. } | Insn::LdMap { dst, .. } => (vec![], vec![*dst]),
        Insn::Ldx { dst, src, .. } => (vec![*src], vec![*dst]),
        Insn::St { dst, .. } => (vec![*dst], vec![]),
        Insn::Stx { dst, src, .. } | Insn::AtomicAdd { dst, src, .. } => (vec![*dst, *src], vec![]),
        Insn::LdAbs { .. } => (vec![X::phys(Reg::R6)], vec![X::phys(Reg::R0)]),
        Insn::LdInd { src, .. } => (vec![*src, X::phys(Reg::R6)], vec![X::phys(Reg::R0)]),
        Insn::Ja { .. } => (vec![], vec![]),
        Insn::Jmp { dst, src: s, .. } => {
            let mut u = src(s);
            u.push(*dst);
            (u, vec![])
        }
        Insn::Call { helper } => (
            (1..=helper.args()).map(|i| X::phys(Reg(i))).collect(),
            vec![X::phys(Reg::R0)],
        ),
        Insn::Exit => (vec![X::phys(Reg::R0)], vec![]),
    }
}

/// Whether the instruction clobbers R0–R5 (calls and legacy packet loads).
pub fn clobbers<X>(insn: &Insn<X>) -> bool {
    matches!(
        insn,
        Insn::Call { .. } | Insn::LdAbs { .. } | Insn::LdInd { .. }
    )
}

/// Virtual code runs in `ljbpf_core::interp` too: physical registers keep their numbers (the
/// interpreter's ABI), virtual ones come after them.
impl ljbpf_core::interp::Key for R {
    fn key(self) -> usize {
        match self {
            R::P(r) => r.0 as usize,
            R::V(v) => 11 + v.0 as usize,
        }
    }
}
