//! A small BPF interpreter: runs the instructions ljbpf emits, without a kernel, as an oracle
//! for tests that cannot use `BPF_PROG_TEST_RUN` (no root) and for comparing the code before
//! and after each back-end pass.
//!
//! It lives in `ljbpf-core` (pure, no kernel, no Lua) because it is generic over the register
//! type of [`Insn`]: the same loop runs laid-out code ([`Program::from_placed`], e.g. decoded
//! from raw slots with [`crate::insn::decode_all`]), code over physical registers with
//! symbolic labels, and code over virtual registers ([`Program::from_labels`]); a register is
//! anything with a [`Key`] (physical R0–R10 are keys 0–10). `ljbpf-build` implements [`Key`]
//! for its virtual operands.
//!
//! Semantics follow Documentation/bpf/standardization/instruction-set.rst: ALU32 results are
//! zero-extended, `x / 0 = 0`, `x % 0 = x` (32-bit: the zero-extended low half), signed
//! division wraps (`INT_MIN s/ -1 = INT_MIN`, `s% -1 = 0`), shift counts are masked to 63 / 31,
//! immediates are sign-extended to 64 bits. Calls follow the ABI (Documentation/bpf/
//! standardization/abi.rst): arguments in R1–R5, result in R0, R1–R5 unreadable afterwards, as
//! after `LD_ABS`/`LD_IND` (the verifier marks them not initialised; `check_ld_abs`).
//!
//! Memory is a set of regions ([`machine`]): the 512-byte stack under R10, the context, map
//! values handed out by lookups. A pointer is `(region + 1) << 32 | offset`; every access is
//! bounds-checked against its region. What the interpreter cannot model is a [`Fault`], never
//! a panic, and every run has an instruction budget.

pub mod machine;

use std::fmt;

use crate::helper::Helper;
use crate::insn::{AluOp, Insn, JmpOp, Label, Reg, Size, Src};

pub use machine::{Event, Machine, MapDef};

/// A register of some register type: its index in the register file. Physical R0–R10 must be
/// 0–10 (the interpreter puts the context in 1, the frame pointer in 10 and clobbers 1–5 at
/// calls); other keys (virtual registers) come after.
pub trait Key: Copy + fmt::Display {
    /// The register's index in the register file.
    fn key(self) -> usize;
}

impl Key for Reg {
    fn key(self) -> usize {
        self.0 as usize
    }
}

/// A program ready to interpret: instructions and, for each jump, the index of the instruction
/// it lands on.
#[derive(Clone, Debug)]
pub struct Program<R> {
    /// The instructions, in order.
    pub insns: Vec<Insn<R>>,
    /// Per instruction: the index of its jump target (`usize::MAX` when it is not a jump or its
    /// target is not an instruction start: running it is a fault).
    pub targets: Vec<usize>,
    /// Number of register-file entries (max key + 1).
    pub keys: usize,
    /// The byte the stack holds when the program starts. Code after ljbpf's frame pass must
    /// not depend on it (the kernel's stack starts with whatever was there): tests run it with
    /// a pattern that is not zero, so a read of a byte nothing wrote shows.
    pub stack_fill: u8,
}

impl<R: Key> Program<R> {
    fn with_targets(insns: Vec<Insn<R>>, targets: Vec<usize>) -> Program<R> {
        let mut keys = 11;
        for i in &insns {
            i.map_regs(|r| keys = keys.max(r.key() + 1));
        }
        Program {
            insns,
            targets,
            keys,
            stack_fill: 0,
        }
    }

    /// The same code, started on a stack filled with `byte`.
    pub fn with_stack_fill(mut self, byte: u8) -> Program<R> {
        self.stack_fill = byte;
        self
    }

    /// Code with symbolic labels: `labels[l]` is the index of the instruction label `l`
    /// precedes (as in `ljbpf_build::mir::Code`).
    pub fn from_labels(insns: Vec<Insn<R>>, labels: &[Option<usize>]) -> Program<R> {
        let targets = insns
            .iter()
            .map(|i| {
                i.target()
                    .and_then(|Label(l)| labels.get(l as usize).copied().flatten())
                    .unwrap_or(usize::MAX)
            })
            .collect();
        Program::with_targets(insns, targets)
    }

    /// Laid-out code: `(first slot, instruction, jump offset in slots)` in slot order, as
    /// [`crate::insn::decode_all`] returns it. A jump lands on slot `slot + 1 + offset`.
    pub fn from_placed(placed: impl IntoIterator<Item = (usize, Insn<R>, i16)>) -> Program<R> {
        let placed: Vec<(usize, Insn<R>, i16)> = placed.into_iter().collect();
        let targets = placed
            .iter()
            .map(|(slot, insn, off)| {
                if insn.target().is_none() {
                    return usize::MAX;
                }
                let want = *slot as i64 + 1 + i64::from(*off);
                placed
                    .binary_search_by_key(&want, |p| p.0 as i64)
                    .unwrap_or(usize::MAX)
            })
            .collect();
        Program::with_targets(placed.into_iter().map(|p| p.1).collect(), targets)
    }
}

/// Why a run stopped without `exit`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// More instructions than the budget.
    Budget(u64),
    /// A register read before it was written (or after a call clobbered it).
    Uninit(String),
    /// A memory access outside every region, or past the end of its region.
    OutOfBounds {
        /// The address.
        addr: u64,
        /// The access width.
        size: u64,
    },
    /// A store into a read-only region (the context).
    ReadOnly(u64),
    /// A jump to no instruction, or running off the end.
    BadJump,
    /// A map argument that is not a map pointer, or of a map that does not exist.
    BadMap(u64),
    /// Anything else the interpreter does not model.
    Unsupported(String),
}

/// A run that stopped at instruction `pc` without `exit`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// Index of the instruction.
    pub pc: usize,
    /// What happened.
    pub kind: FaultKind,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "interpreter fault at instruction {}: ", self.pc)?;
        match &self.kind {
            FaultKind::Budget(n) => write!(f, "more than {n} instructions"),
            FaultKind::Uninit(r) => write!(f, "{r} read before it was written"),
            FaultKind::OutOfBounds { addr, size } => {
                write!(f, "{size}-byte access at {addr:#x} is outside every region")
            }
            FaultKind::ReadOnly(a) => write!(f, "store to read-only memory at {a:#x}"),
            FaultKind::BadJump => write!(f, "jump to no instruction, or fell off the end"),
            FaultKind::BadMap(a) => write!(f, "{a:#x} is not a map pointer"),
            FaultKind::Unsupported(what) => write!(f, "not modelled: {what}"),
        }
    }
}

impl std::error::Error for Fault {}

/// The register file: values and whether each is readable.
struct Regs {
    val: Vec<u64>,
    def: Vec<bool>,
}

impl Regs {
    #[inline]
    fn get<R: Key>(&self, r: R) -> Result<u64, FaultKind> {
        let k = r.key();
        if self.def[k] {
            Ok(self.val[k])
        } else {
            Err(FaultKind::Uninit(r.to_string()))
        }
    }

    #[inline]
    fn set<R: Key>(&mut self, r: R, v: u64) {
        let k = r.key();
        self.val[k] = v;
        self.def[k] = true;
    }

    /// Helper calls and legacy packet loads leave R1–R5 unreadable.
    fn clobber(&mut self) {
        for k in 1..=5 {
            self.def[k] = false;
        }
    }
}

/// One ALU operation (`wide`: 64-bit; otherwise on the low halves, zero-extended).
pub fn alu(op: AluOp, wide: bool, dst: u64, src: u64) -> u64 {
    if wide {
        let (a, b) = (dst, src);
        match op {
            AluOp::Add => a.wrapping_add(b),
            AluOp::Sub => a.wrapping_sub(b),
            AluOp::Mul => a.wrapping_mul(b),
            AluOp::Div => a.checked_div(b).unwrap_or(0),
            AluOp::Mod => a.checked_rem(b).unwrap_or(a),
            AluOp::SDiv => match b {
                0 => 0,
                _ => (a as i64).wrapping_div(b as i64) as u64,
            },
            AluOp::SMod => match b {
                0 => a,
                _ => (a as i64).wrapping_rem(b as i64) as u64,
            },
            AluOp::Or => a | b,
            AluOp::And => a & b,
            AluOp::Xor => a ^ b,
            AluOp::Lsh => a << (b & 63),
            AluOp::Rsh => a >> (b & 63),
            AluOp::Arsh => ((a as i64) >> (b & 63)) as u64,
            AluOp::Neg => a.wrapping_neg(),
            AluOp::Mov => b,
        }
    } else {
        let (a, b) = (dst as u32, src as u32);
        u64::from(match op {
            AluOp::Add => a.wrapping_add(b),
            AluOp::Sub => a.wrapping_sub(b),
            AluOp::Mul => a.wrapping_mul(b),
            AluOp::Div => a.checked_div(b).unwrap_or(0),
            AluOp::Mod => a.checked_rem(b).unwrap_or(a),
            AluOp::SDiv => match b {
                0 => 0,
                _ => (a as i32).wrapping_div(b as i32) as u32,
            },
            AluOp::SMod => match b {
                0 => a,
                _ => (a as i32).wrapping_rem(b as i32) as u32,
            },
            AluOp::Or => a | b,
            AluOp::And => a & b,
            AluOp::Xor => a ^ b,
            AluOp::Lsh => a << (b & 31),
            AluOp::Rsh => a >> (b & 31),
            AluOp::Arsh => ((a as i32) >> (b & 31)) as u32,
            AluOp::Neg => a.wrapping_neg(),
            AluOp::Mov => b,
        })
    }
}

/// Whether a conditional jump is taken (64-bit compares).
pub fn cond(op: JmpOp, a: u64, b: u64) -> bool {
    op.eval(a as i64, b as i64)
}

/// `ntoh` of the first `size` bytes (network order) of `bytes`.
fn be(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0u64, |v, b| (v << 8) | u64::from(*b))
}

/// Default instruction budget of a run (the kernel's verifier allows 1M processed
/// instructions; a run of ljbpf's loop-bounded code is far shorter).
pub const BUDGET: u64 = 1_000_000;

impl Machine {
    /// Runs `prog` once: R1 = the context, R10 = the top of a stack filled with
    /// [`Program::stack_fill`]. Returns R0 at
    /// `exit`, or 0 when a legacy packet load falls outside the packet (the kernel ends the
    /// program that way).
    pub fn run<R: Key>(&mut self, prog: &Program<R>) -> Result<u64, Fault> {
        let mut regs = Regs {
            val: vec![0; prog.keys],
            def: vec![false; prog.keys],
        };
        self.reset_stack(prog.stack_fill);
        regs.set(Reg::R1, self.ctx_ptr());
        regs.set(Reg::R10, self.stack_top());
        let mut pc = 0usize;
        let mut steps = 0u64;
        loop {
            let fault = |kind| Fault { pc, kind };
            steps += 1;
            if steps > self.budget {
                return Err(fault(FaultKind::Budget(self.budget)));
            }
            let Some(insn) = prog.insns.get(pc) else {
                return Err(fault(FaultKind::BadJump));
            };
            let src = |regs: &Regs, s: Src<R>| match s {
                Src::Reg(r) => regs.get(r),
                Src::Imm(i) => Ok(i as i64 as u64),
            };
            let mut next = pc + 1;
            let step: Result<(), FaultKind> = (|| {
                match *insn {
                    Insn::Alu64 { op, dst, src: s } | Insn::Alu32 { op, dst, src: s } => {
                        let wide = matches!(insn, Insn::Alu64 { .. });
                        let b = src(&regs, s)?;
                        let a = match op {
                            AluOp::Mov => 0,
                            AluOp::Add
                            | AluOp::Sub
                            | AluOp::Mul
                            | AluOp::Div
                            | AluOp::Or
                            | AluOp::And
                            | AluOp::Lsh
                            | AluOp::Rsh
                            | AluOp::Neg
                            | AluOp::Mod
                            | AluOp::Xor
                            | AluOp::Arsh
                            | AluOp::SDiv
                            | AluOp::SMod => regs.get(dst)?,
                        };
                        regs.set(dst, alu(op, wide, a, b));
                    }
                    Insn::Sext32 { dst } => {
                        let v = regs.get(dst)?;
                        regs.set(dst, v as i32 as i64 as u64);
                    }
                    Insn::ToBe { dst, bits } => {
                        let v = regs.get(dst)?;
                        let r = match bits {
                            16 => u64::from((v as u16).swap_bytes()),
                            32 => u64::from((v as u32).swap_bytes()),
                            64 => v.swap_bytes(),
                            b => return Err(FaultKind::Unsupported(format!("be{b}"))),
                        };
                        regs.set(dst, r);
                    }
                    Insn::LdImm64 { dst, imm } => regs.set(dst, imm as u64),
                    Insn::LdMap { dst, map } => regs.set(dst, self.map_ptr(map.0)?),
                    Insn::Ldx {
                        size,
                        dst,
                        src,
                        off,
                    } => {
                        let a = regs.get(src)?.wrapping_add(off as i64 as u64);
                        let v = self.load(a, size.bytes())?;
                        regs.set(dst, v);
                    }
                    Insn::St {
                        size,
                        dst,
                        off,
                        imm,
                    } => {
                        let a = regs.get(dst)?.wrapping_add(off as i64 as u64);
                        self.store(a, size.bytes(), imm as i64 as u64)?;
                    }
                    Insn::Stx {
                        size,
                        dst,
                        src,
                        off,
                    } => {
                        let a = regs.get(dst)?.wrapping_add(off as i64 as u64);
                        let v = regs.get(src)?;
                        self.store(a, size.bytes(), v)?;
                    }
                    Insn::AtomicAdd {
                        size,
                        dst,
                        src,
                        off,
                    } => {
                        let a = regs.get(dst)?.wrapping_add(off as i64 as u64);
                        let v = regs.get(src)?;
                        let n = size.bytes();
                        if !matches!(size, Size::W | Size::DW) {
                            return Err(FaultKind::Unsupported(format!("{n}-byte atomic add")));
                        }
                        let old = self.load(a, n)?;
                        self.store(a, n, old.wrapping_add(v))?;
                    }
                    Insn::LdAbs { size, imm } => {
                        // The verifier requires the context in R6 (instruction-set.rst,
                        // "Legacy BPF Packet access instructions").
                        self.check_ctx(regs.get(Reg::R6)?)?;
                        let v = self.packet_load(i64::from(imm), size)?;
                        regs.clobber();
                        match v {
                            Some(v) => regs.set(Reg::R0, v),
                            None => {
                                regs.set(Reg::R0, 0);
                                next = usize::MAX;
                            }
                        }
                    }
                    Insn::LdInd { size, src, imm } => {
                        self.check_ctx(regs.get(Reg::R6)?)?;
                        // The kernel computes the offset in 32 bits: `w2 = src; w2 += imm`
                        // (`bpf_gen_ld_abs`, net/core/filter.c), then treats it as signed.
                        let off = (regs.get(src)? as u32).wrapping_add(imm as u32) as i32;
                        let v = self.packet_load(i64::from(off), size)?;
                        regs.clobber();
                        match v {
                            Some(v) => regs.set(Reg::R0, v),
                            None => {
                                regs.set(Reg::R0, 0);
                                next = usize::MAX;
                            }
                        }
                    }
                    Insn::Ja { .. } => next = prog.targets[pc],
                    Insn::Jmp {
                        op, dst, src: s, ..
                    } => {
                        if cond(op, regs.get(dst)?, src(&regs, s)?) {
                            next = prog.targets[pc];
                        }
                    }
                    Insn::Call { helper } => {
                        let mut args = [0u64; 5];
                        for (i, a) in args.iter_mut().enumerate().take(helper.args() as usize) {
                            *a = regs.get(Reg(i as u8 + 1))?;
                        }
                        let r = self.call(helper, args)?;
                        regs.clobber();
                        regs.set(Reg::R0, r);
                    }
                    Insn::Exit => next = usize::MAX - 1,
                }
                Ok(())
            })();
            step.map_err(fault)?;
            match next {
                // A legacy packet load out of the packet: the program returns 0.
                usize::MAX => return Ok(0),
                n if n == usize::MAX - 1 => return regs.get(Reg::R0).map_err(fault),
                n if n >= prog.insns.len() => {
                    return Err(fault(FaultKind::BadJump));
                }
                n => pc = n,
            }
        }
    }

    fn packet_load(&self, off: i64, size: Size) -> Result<Option<u64>, FaultKind> {
        if off < 0 {
            // SKF_NET_OFF / SKF_LL_OFF (include/uapi/linux/filter.h): not modelled.
            return Err(FaultKind::Unsupported(format!(
                "packet load at negative offset {off}"
            )));
        }
        let n = size.bytes() as usize;
        if matches!(size, Size::DW) {
            return Err(FaultKind::Unsupported("8-byte LD_ABS/LD_IND".to_owned()));
        }
        let off = off as usize;
        Ok(self.packet().get(off..off + n).map(be))
    }
}

/// Helpers the interpreter models (for error messages and tests).
pub fn models(helper: Helper) -> bool {
    match helper {
        Helper::MapLookupElem
        | Helper::MapUpdateElem
        | Helper::MapDeleteElem
        | Helper::ProbeRead
        | Helper::KtimeGetNs
        | Helper::TracePrintk
        | Helper::GetPrandomU32
        | Helper::GetSmpProcessorId
        | Helper::GetCurrentPidTgid
        | Helper::GetCurrentUidGid
        | Helper::GetCurrentComm
        | Helper::PerfEventOutput
        | Helper::SkbLoadBytes
        | Helper::ProbeReadUser
        | Helper::ProbeReadKernel
        | Helper::ProbeReadUserStr
        | Helper::ProbeReadKernelStr
        | Helper::RingbufOutput => true,
        Helper::GetStackid | Helper::Redirect | Helper::RedirectMap => false,
    }
}

#[cfg(test)]
mod tests;
