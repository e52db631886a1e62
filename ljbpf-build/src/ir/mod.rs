//! Stage 3: LuaJIT bytecode → BPF instructions over virtual registers.
//!
//! `lower` interprets the bytecode abstractly: every Lua slot holds a [`value::Val`], either a
//! compile-time value (a constant, a map, a ctype, the context) or a run-time value in a virtual
//! register typed the way LuaJIT types it (number, int64/uint64 cdata, boolean, map value
//! pointer). Code is emitted only for run-time work.

pub mod consts;
pub mod lower;
pub mod packet;
pub mod value;

use std::fmt;

use crate::bpf::insn::{Insn, Label, Reg, Show};

/// A virtual register, assigned a physical register or a stack slot by `bpf::regalloc`.
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

/// Instructions over virtual registers, each with its Lua line, and label positions.
#[derive(Clone, Debug, Default)]
pub struct Code {
    /// Instructions and the Lua line each came from.
    pub insns: Vec<(Insn<R>, u32)>,
    /// For each label, the index of the instruction it precedes.
    pub labels: Vec<Option<usize>>,
    /// Number of virtual registers used.
    pub vregs: u32,
}

impl Code {
    /// A fresh, unbound label.
    pub fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() as u32 - 1)
    }

    /// Binds `l` to the next instruction.
    pub fn bind(&mut self, l: Label) {
        self.labels[l.0 as usize] = Some(self.insns.len());
    }

    /// A fresh virtual register.
    pub fn vreg(&mut self) -> VReg {
        self.vregs += 1;
        VReg(self.vregs - 1)
    }

    /// The code before register allocation, for debugging the compiler
    /// (`LJBPF_DEBUG_VCODE=1 ljbpf dump FILE`).
    pub fn listing(&self, maps: &[String]) -> String {
        let mut out = String::new();
        for (i, (insn, line)) in self.insns.iter().enumerate() {
            for (l, at) in self.labels.iter().enumerate() {
                if *at == Some(i) {
                    out.push_str(&format!("L{l}:\n"));
                }
            }
            out.push_str(&format!("{i:5} ; line {line:<4} {}\n", Show { insn, maps }));
        }
        out
    }

    /// Appends an instruction.
    pub fn push(&mut self, insn: Insn<R>, line: u32) {
        self.insns.push((insn, line));
    }
}
