//! BPF instructions: one type that encodes itself and prints itself in kernel syntax.
//!
//! Opcode byte layout (Documentation/bpf/standardization/instruction-set.rst):
//!
//! ```text
//!   ALU/JMP:   +--------+-----+-------+      LD/ST:  +------+------+-------+
//!              | op (4) | s(1)| cls(3)|              |mode 3|size 2| cls(3)|
//!              +--------+-----+-------+              +------+------+-------+
//! ```
//!
//! Jump targets stay symbolic ([`Label`]) until layout; registers are generic so the same type
//! carries virtual registers before allocation and physical ones after. [`decode`] is the inverse
//! of [`Insn::encode`] (the interpreter runs laid-out code through it).
//!
//! Over 800 lines on purpose: the type, its encoder, decoder and printer are one table read
//! side by side (every opcode form appears once in each).

use std::fmt;

use crate::helper::Helper;

/// A physical BPF register R0..R10.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Reg(pub u8);

impl Reg {
    /// Return value and scratch.
    pub const R0: Reg = Reg(0);
    /// First helper argument; the context at program entry.
    pub const R1: Reg = Reg(1);
    /// Second helper argument.
    pub const R2: Reg = Reg(2);
    /// Third helper argument.
    pub const R3: Reg = Reg(3);
    /// Fourth helper argument.
    pub const R4: Reg = Reg(4);
    /// Fifth helper argument.
    pub const R5: Reg = Reg(5);
    /// Callee-saved; holds the program context in ljbpf code (LD_ABS needs it there).
    pub const R6: Reg = Reg(6);
    /// Callee-saved.
    pub const R7: Reg = Reg(7);
    /// Callee-saved.
    pub const R8: Reg = Reg(8);
    /// Callee-saved.
    pub const R9: Reg = Reg(9);
    /// Read-only frame pointer.
    pub const R10: Reg = Reg(10);
}

impl fmt::Display for Reg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "r{}", self.0)
    }
}

/// A jump target, resolved to an offset at layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label(pub u32);

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "L{}", self.0)
    }
}

/// A map of the probe file, index into its map list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MapId(pub u32);

/// Memory access width.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Size {
    /// 1 byte.
    B,
    /// 2 bytes.
    H,
    /// 4 bytes.
    W,
    /// 8 bytes.
    DW,
}

impl Size {
    /// The size for `bytes` (1, 2, 4 or 8).
    pub fn from_bytes(bytes: u32) -> Option<Size> {
        match bytes {
            1 => Some(Size::B),
            2 => Some(Size::H),
            4 => Some(Size::W),
            8 => Some(Size::DW),
            _ => None,
        }
    }

    /// Width in bytes.
    pub fn bytes(self) -> u32 {
        match self {
            Size::B => 1,
            Size::H => 2,
            Size::W => 4,
            Size::DW => 8,
        }
    }

    fn bits(self) -> u8 {
        match self {
            Size::W => 0x00,
            Size::H => 0x08,
            Size::B => 0x10,
            Size::DW => 0x18,
        }
    }

    fn c_name(self) -> &'static str {
        match self {
            Size::B => "u8",
            Size::H => "u16",
            Size::W => "u32",
            Size::DW => "u64",
        }
    }
}

/// ALU operations (the `op` nibble; `SDiv`/`SMod` are DIV/MOD with offset 1, cpu v4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AluOp {
    /// `+=`
    Add,
    /// `-=`
    Sub,
    /// `*=`
    Mul,
    /// unsigned `/=`
    Div,
    /// `|=`
    Or,
    /// `&=`
    And,
    /// `<<=`
    Lsh,
    /// logical `>>=`
    Rsh,
    /// `= -dst`
    Neg,
    /// unsigned `%=`
    Mod,
    /// `^=`
    Xor,
    /// `=`
    Mov,
    /// arithmetic `s>>=`
    Arsh,
    /// signed `s/=`
    SDiv,
    /// signed `s%=`
    SMod,
}

impl AluOp {
    fn code(self) -> (u8, i16) {
        match self {
            AluOp::Add => (0x00, 0),
            AluOp::Sub => (0x10, 0),
            AluOp::Mul => (0x20, 0),
            AluOp::Div => (0x30, 0),
            AluOp::Or => (0x40, 0),
            AluOp::And => (0x50, 0),
            AluOp::Lsh => (0x60, 0),
            AluOp::Rsh => (0x70, 0),
            AluOp::Neg => (0x80, 0),
            AluOp::Mod => (0x90, 0),
            AluOp::Xor => (0xa0, 0),
            AluOp::Mov => (0xb0, 0),
            AluOp::Arsh => (0xc0, 0),
            AluOp::SDiv => (0x30, 1),
            AluOp::SMod => (0x90, 1),
        }
    }

    fn sym(self) -> &'static str {
        match self {
            AluOp::Add => "+=",
            AluOp::Sub => "-=",
            AluOp::Mul => "*=",
            AluOp::Div => "/=",
            AluOp::Or => "|=",
            AluOp::And => "&=",
            AluOp::Lsh => "<<=",
            AluOp::Rsh => ">>=",
            AluOp::Neg => "= -",
            AluOp::Mod => "%=",
            AluOp::Xor => "^=",
            AluOp::Mov => "=",
            AluOp::Arsh => "s>>=",
            AluOp::SDiv => "s/=",
            AluOp::SMod => "s%=",
        }
    }
}

/// Conditional jump operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JmpOp {
    /// `==`
    Jeq,
    /// unsigned `>`
    Jgt,
    /// unsigned `>=`
    Jge,
    /// `&` (jump if any bit set)
    Jset,
    /// `!=`
    Jne,
    /// signed `>`
    Jsgt,
    /// signed `>=`
    Jsge,
    /// unsigned `<`
    Jlt,
    /// unsigned `<=`
    Jle,
    /// signed `<`
    Jslt,
    /// signed `<=`
    Jsle,
}

impl JmpOp {
    fn code(self) -> u8 {
        match self {
            JmpOp::Jeq => 0x10,
            JmpOp::Jgt => 0x20,
            JmpOp::Jge => 0x30,
            JmpOp::Jset => 0x40,
            JmpOp::Jne => 0x50,
            JmpOp::Jsgt => 0x60,
            JmpOp::Jsge => 0x70,
            JmpOp::Jlt => 0xa0,
            JmpOp::Jle => 0xb0,
            JmpOp::Jslt => 0xc0,
            JmpOp::Jsle => 0xd0,
        }
    }

    fn sym(self) -> &'static str {
        match self {
            JmpOp::Jeq => "==",
            JmpOp::Jgt => ">",
            JmpOp::Jge => ">=",
            JmpOp::Jset => "&",
            JmpOp::Jne => "!=",
            JmpOp::Jsgt => "s>",
            JmpOp::Jsge => "s>=",
            JmpOp::Jlt => "<",
            JmpOp::Jle => "<=",
            JmpOp::Jslt => "s<",
            JmpOp::Jsle => "s<=",
        }
    }

    /// The condition that holds exactly when `self` does not.
    pub fn negate(self) -> Option<JmpOp> {
        Some(match self {
            JmpOp::Jeq => JmpOp::Jne,
            JmpOp::Jne => JmpOp::Jeq,
            JmpOp::Jgt => JmpOp::Jle,
            JmpOp::Jle => JmpOp::Jgt,
            JmpOp::Jge => JmpOp::Jlt,
            JmpOp::Jlt => JmpOp::Jge,
            JmpOp::Jsgt => JmpOp::Jsle,
            JmpOp::Jsle => JmpOp::Jsgt,
            JmpOp::Jsge => JmpOp::Jslt,
            JmpOp::Jslt => JmpOp::Jsge,
            JmpOp::Jset => return None,
        })
    }

    /// The condition with its operands swapped: `a op b` ⇔ `b op.swap() a`.
    pub fn swap(self) -> Option<JmpOp> {
        Some(match self {
            JmpOp::Jeq => JmpOp::Jeq,
            JmpOp::Jne => JmpOp::Jne,
            JmpOp::Jgt => JmpOp::Jlt,
            JmpOp::Jlt => JmpOp::Jgt,
            JmpOp::Jge => JmpOp::Jle,
            JmpOp::Jle => JmpOp::Jge,
            JmpOp::Jsgt => JmpOp::Jslt,
            JmpOp::Jslt => JmpOp::Jsgt,
            JmpOp::Jsge => JmpOp::Jsle,
            JmpOp::Jsle => JmpOp::Jsge,
            JmpOp::Jset => return None,
        })
    }

    /// The first ISA level that has it: the "less than" family came with v2 (Linux 4.14).
    pub fn min_isa(self) -> Isa {
        match self {
            JmpOp::Jeq
            | JmpOp::Jgt
            | JmpOp::Jge
            | JmpOp::Jset
            | JmpOp::Jne
            | JmpOp::Jsgt
            | JmpOp::Jsge => Isa::V1,
            JmpOp::Jlt | JmpOp::Jle | JmpOp::Jslt | JmpOp::Jsle => Isa::V2,
        }
    }

    /// Evaluates the condition on constants.
    pub fn eval(self, a: i64, b: i64) -> bool {
        let (ua, ub) = (a as u64, b as u64);
        match self {
            JmpOp::Jeq => a == b,
            JmpOp::Jne => a != b,
            JmpOp::Jgt => ua > ub,
            JmpOp::Jge => ua >= ub,
            JmpOp::Jlt => ua < ub,
            JmpOp::Jle => ua <= ub,
            JmpOp::Jsgt => a > b,
            JmpOp::Jsge => a >= b,
            JmpOp::Jslt => a < b,
            JmpOp::Jsle => a <= b,
            JmpOp::Jset => a & b != 0,
        }
    }
}

/// A BPF instruction-set level (the "cpu" version of LLVM's `-mcpu=v1..v4`;
/// Documentation/bpf/standardization/instruction-set.rst, "conformance groups").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Isa {
    /// The original eBPF instruction set (Linux 3.18).
    V1,
    /// Adds the "less than" jumps `<`, `<=`, `s<`, `s<=` (Linux 4.14).
    V2,
    /// Adds 32-bit jumps and the full 32-bit ALU (Linux 5.1). The default: every kernel of
    /// the supported fleet (5.14 and later) has it.
    #[default]
    V3,
    /// Adds signed division and modulo, sign-extending moves and loads, unconditional byte
    /// swaps and 32-bit `goto` (Linux 6.6).
    V4,
}

impl Isa {
    /// Every level, oldest first.
    pub const ALL: &'static [Isa] = &[Isa::V1, Isa::V2, Isa::V3, Isa::V4];

    /// Its name (`v1` .. `v4`).
    pub fn name(self) -> &'static str {
        match self {
            Isa::V1 => "v1",
            Isa::V2 => "v2",
            Isa::V3 => "v3",
            Isa::V4 => "v4",
        }
    }

    /// The first Linux version that accepts every instruction of the level.
    pub fn since(self) -> &'static str {
        match self {
            Isa::V1 => "3.18",
            Isa::V2 => "4.14",
            Isa::V3 => "5.1",
            Isa::V4 => "6.6",
        }
    }
}

impl fmt::Display for Isa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Isa {
    type Err = String;

    fn from_str(s: &str) -> Result<Isa, String> {
        Isa::ALL
            .iter()
            .copied()
            .find(|i| i.name() == s)
            .ok_or_else(|| format!("unknown ISA level `{s}` (expected v1, v2, v3 or v4)"))
    }
}

/// A register or a 32-bit immediate (sign-extended to 64 bits by ALU64/JMP).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Src<R> {
    /// A register.
    Reg(R),
    /// An immediate.
    Imm(i32),
}

/// One BPF instruction over registers of type `R`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Insn<R> {
    /// 64-bit ALU: `dst op= src`.
    Alu64 {
        /// The operation.
        op: AluOp,
        /// Destination register (for stores: the base address register).
        dst: R,
        /// Source operand.
        src: Src<R>,
    },
    /// 32-bit ALU: `wdst op= wsrc`, result zero-extended.
    Alu32 {
        /// The operation.
        op: AluOp,
        /// Destination register (for stores: the base address register).
        dst: R,
        /// Source operand.
        src: Src<R>,
    },
    /// `dst = (s64)(s32)dst`: sign-extend the low 32 bits (MOVSX, cpu v4).
    Sext32 {
        /// Destination register (for stores: the base address register).
        dst: R,
    },
    /// Byte swap of the low `bits` (16/32/64) to big-endian: a swap on little-endian.
    ToBe {
        /// Destination register (for stores: the base address register).
        dst: R,
        /// Width of the swap: 16, 32 or 64.
        bits: u8,
    },
    /// `dst = imm64` (two slots).
    LdImm64 {
        /// Destination register (for stores: the base address register).
        dst: R,
        /// Immediate.
        imm: i64,
    },
    /// `dst = &map` (two slots, relocated).
    LdMap {
        /// Destination register (for stores: the base address register).
        dst: R,
        /// The map whose address is loaded.
        map: MapId,
    },
    /// `dst = *(size *)(src + off)`.
    Ldx {
        /// Access width.
        size: Size,
        /// Destination register (for stores: the base address register).
        dst: R,
        /// Source operand.
        src: R,
        /// Byte offset added to the base register.
        off: i16,
    },
    /// `*(size *)(dst + off) = imm`.
    St {
        /// Access width.
        size: Size,
        /// Destination register (for stores: the base address register).
        dst: R,
        /// Byte offset added to the base register.
        off: i16,
        /// Immediate.
        imm: i32,
    },
    /// `*(size *)(dst + off) = src`.
    Stx {
        /// Access width.
        size: Size,
        /// Destination register (for stores: the base address register).
        dst: R,
        /// Source operand.
        src: R,
        /// Byte offset added to the base register.
        off: i16,
    },
    /// `lock *(size *)(dst + off) += src`.
    AtomicAdd {
        /// Access width.
        size: Size,
        /// Destination register (for stores: the base address register).
        dst: R,
        /// Source operand.
        src: R,
        /// Byte offset added to the base register.
        off: i16,
    },
    /// `r0 = ntoh(*(size *)(skb->data + imm))` (legacy packet load; ctx must be in R6).
    LdAbs {
        /// Access width.
        size: Size,
        /// Immediate.
        imm: i32,
    },
    /// `r0 = ntoh(*(size *)(skb->data + src + imm))`.
    LdInd {
        /// Access width.
        size: Size,
        /// Source operand.
        src: R,
        /// Immediate.
        imm: i32,
    },
    /// `goto target`.
    Ja {
        /// Where to jump.
        target: Label,
    },
    /// `if dst op src goto target`.
    Jmp {
        /// The operation.
        op: JmpOp,
        /// Destination register (for stores: the base address register).
        dst: R,
        /// Source operand.
        src: Src<R>,
        /// Where to jump.
        target: Label,
    },
    /// `call helper`.
    Call {
        /// The helper called.
        helper: Helper,
    },
    /// `exit`.
    Exit,
}

impl<R: Copy> Insn<R> {
    /// The first ISA level that has the instruction.
    pub fn min_isa(&self) -> Isa {
        match self {
            Insn::Alu64 { op, .. } | Insn::Alu32 { op, .. } => match op {
                AluOp::SDiv | AluOp::SMod => Isa::V4,
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
                | AluOp::Mov
                | AluOp::Arsh => Isa::V1,
            },
            Insn::Sext32 { .. } => Isa::V4,
            Insn::Jmp { op, .. } => op.min_isa(),
            Insn::ToBe { .. }
            | Insn::LdImm64 { .. }
            | Insn::LdMap { .. }
            | Insn::Ldx { .. }
            | Insn::St { .. }
            | Insn::Stx { .. }
            | Insn::AtomicAdd { .. }
            | Insn::LdAbs { .. }
            | Insn::LdInd { .. }
            | Insn::Ja { .. }
            | Insn::Call { .. }
            | Insn::Exit => Isa::V1,
        }
    }

    /// Number of 8-byte slots it takes.
    pub fn slots(&self) -> u32 {
        match self {
            Insn::LdImm64 { .. } | Insn::LdMap { .. } => 2,
            _ => 1,
        }
    }

    /// The jump target, if any.
    pub fn target(&self) -> Option<Label> {
        match self {
            Insn::Ja { target } | Insn::Jmp { target, .. } => Some(*target),
            _ => None,
        }
    }

    /// Whether control never falls through to the next instruction.
    pub fn is_terminator(&self) -> bool {
        matches!(self, Insn::Ja { .. } | Insn::Exit)
    }

    /// Rewrites every register with `f`.
    pub fn map_regs<S: Copy>(&self, mut f: impl FnMut(R) -> S) -> Insn<S> {
        let mut src = |s: Src<R>| match s {
            Src::Reg(r) => Src::Reg(f(r)),
            Src::Imm(i) => Src::Imm(i),
        };
        match *self {
            Insn::Alu64 { op, dst, src: s } => {
                let s = src(s);
                Insn::Alu64 {
                    op,
                    dst: f(dst),
                    src: s,
                }
            }
            Insn::Alu32 { op, dst, src: s } => {
                let s = src(s);
                Insn::Alu32 {
                    op,
                    dst: f(dst),
                    src: s,
                }
            }
            Insn::Sext32 { dst } => Insn::Sext32 { dst: f(dst) },
            Insn::ToBe { dst, bits } => Insn::ToBe { dst: f(dst), bits },
            Insn::LdImm64 { dst, imm } => Insn::LdImm64 { dst: f(dst), imm },
            Insn::LdMap { dst, map } => Insn::LdMap { dst: f(dst), map },
            Insn::Ldx {
                size,
                dst,
                src,
                off,
            } => Insn::Ldx {
                size,
                dst: f(dst),
                src: f(src),
                off,
            },
            Insn::St {
                size,
                dst,
                off,
                imm,
            } => Insn::St {
                size,
                dst: f(dst),
                off,
                imm,
            },
            Insn::Stx {
                size,
                dst,
                src,
                off,
            } => Insn::Stx {
                size,
                dst: f(dst),
                src: f(src),
                off,
            },
            Insn::AtomicAdd {
                size,
                dst,
                src,
                off,
            } => Insn::AtomicAdd {
                size,
                dst: f(dst),
                src: f(src),
                off,
            },
            Insn::LdAbs { size, imm } => Insn::LdAbs { size, imm },
            Insn::LdInd { size, src, imm } => Insn::LdInd {
                size,
                src: f(src),
                imm,
            },
            Insn::Ja { target } => Insn::Ja { target },
            Insn::Jmp {
                op,
                dst,
                src: s,
                target,
            } => {
                let s = src(s);
                Insn::Jmp {
                    op,
                    dst: f(dst),
                    src: s,
                    target,
                }
            }
            Insn::Call { helper } => Insn::Call { helper },
            Insn::Exit => Insn::Exit,
        }
    }
}

/// One encoded 8-byte instruction slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawInsn {
    /// Opcode byte.
    pub code: u8,
    /// Destination register.
    pub dst: u8,
    /// Source register.
    pub src: u8,
    /// Offset.
    pub off: i16,
    /// Immediate.
    pub imm: i32,
}

impl RawInsn {
    fn new(code: u8, dst: Reg, src: Reg, off: i16, imm: i32) -> RawInsn {
        RawInsn {
            code,
            dst: dst.0,
            src: src.0,
            off,
            imm,
        }
    }

    /// Little-endian bytes.
    pub fn to_bytes(self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0] = self.code;
        b[1] = (self.src << 4) | (self.dst & 0x0f);
        b[2..4].copy_from_slice(&self.off.to_le_bytes());
        b[4..8].copy_from_slice(&self.imm.to_le_bytes());
        b
    }
}

const CLS_LD: u8 = 0x00;
const CLS_LDX: u8 = 0x01;
const CLS_ST: u8 = 0x02;
const CLS_STX: u8 = 0x03;
const CLS_ALU: u8 = 0x04;
const CLS_JMP: u8 = 0x05;
const CLS_ALU64: u8 = 0x07;
const SRC_X: u8 = 0x08;
const MODE_IMM: u8 = 0x00;
const MODE_ABS: u8 = 0x20;
const MODE_IND: u8 = 0x40;
const MODE_MEM: u8 = 0x60;
const MODE_ATOMIC: u8 = 0xc0;
const OP_END: u8 = 0xd0;
const OP_JA: u8 = 0x00;
const OP_CALL: u8 = 0x80;
const OP_EXIT: u8 = 0x90;
/// `src_reg` of an `LD_IMM64` that loads a map by fd (kernel `BPF_PSEUDO_MAP_FD`).
pub const PSEUDO_MAP_FD: u8 = 1;

/// The bytes of stack a program may use below R10 (kernel `MAX_BPF_STACK`,
/// include/linux/filter.h).
pub const MAX_STACK: u32 = 512;
const ATOMIC_ADD: i32 = 0x00;

impl Insn<Reg> {
    /// Encodes the instruction; `offset` is the resolved jump offset (in slots) for jumps.
    pub fn encode(&self, offset: i16, out: &mut Vec<RawInsn>) {
        let z = Reg::R0;
        let alu = |cls: u8, op: AluOp, dst: Reg, src: Src<Reg>| {
            let (code, off) = op.code();
            match src {
                Src::Reg(s) => RawInsn::new(cls | code | SRC_X, dst, s, off, 0),
                Src::Imm(i) => RawInsn::new(cls | code, dst, z, off, i),
            }
        };
        let raw = match *self {
            Insn::Alu64 { op, dst, src } => alu(CLS_ALU64, op, dst, src),
            Insn::Alu32 { op, dst, src } => alu(CLS_ALU, op, dst, src),
            Insn::Sext32 { dst } => RawInsn::new(CLS_ALU64 | 0xb0 | SRC_X, dst, dst, 32, 0),
            Insn::ToBe { dst, bits } => {
                RawInsn::new(CLS_ALU | OP_END | SRC_X, dst, z, 0, i32::from(bits))
            }
            Insn::LdImm64 { dst, imm } => {
                out.push(RawInsn::new(
                    CLS_LD | MODE_IMM | Size::DW.bits(),
                    dst,
                    z,
                    0,
                    imm as i32,
                ));
                RawInsn::new(0, z, z, 0, (imm >> 32) as i32)
            }
            Insn::LdMap { dst, .. } => {
                out.push(RawInsn::new(
                    CLS_LD | MODE_IMM | Size::DW.bits(),
                    dst,
                    Reg(PSEUDO_MAP_FD),
                    0,
                    0,
                ));
                RawInsn::new(0, z, z, 0, 0)
            }
            Insn::Ldx {
                size,
                dst,
                src,
                off,
            } => RawInsn::new(CLS_LDX | MODE_MEM | size.bits(), dst, src, off, 0),
            Insn::St {
                size,
                dst,
                off,
                imm,
            } => RawInsn::new(CLS_ST | MODE_MEM | size.bits(), dst, z, off, imm),
            Insn::Stx {
                size,
                dst,
                src,
                off,
            } => RawInsn::new(CLS_STX | MODE_MEM | size.bits(), dst, src, off, 0),
            Insn::AtomicAdd {
                size,
                dst,
                src,
                off,
            } => RawInsn::new(
                CLS_STX | MODE_ATOMIC | size.bits(),
                dst,
                src,
                off,
                ATOMIC_ADD,
            ),
            Insn::LdAbs { size, imm } => {
                RawInsn::new(CLS_LD | MODE_ABS | size.bits(), z, z, 0, imm)
            }
            Insn::LdInd { size, src, imm } => {
                RawInsn::new(CLS_LD | MODE_IND | size.bits(), z, src, 0, imm)
            }
            Insn::Ja { .. } => RawInsn::new(CLS_JMP | OP_JA, z, z, offset, 0),
            Insn::Jmp { op, dst, src, .. } => match src {
                Src::Reg(s) => RawInsn::new(CLS_JMP | op.code() | SRC_X, dst, s, offset, 0),
                Src::Imm(i) => RawInsn::new(CLS_JMP | op.code(), dst, z, offset, i),
            },
            Insn::Call { helper } => RawInsn::new(CLS_JMP | OP_CALL, z, z, 0, helper.id() as i32),
            Insn::Exit => RawInsn::new(CLS_JMP | OP_EXIT, z, z, 0, 0),
        };
        out.push(raw);
    }
}

/// Prints an instruction in the kernel verifier's syntax. Jumps print their label, or
/// `pc+N` once laid out. Map loads print the map name through `maps`.
pub struct Show<'a, R> {
    /// The instruction.
    pub insn: &'a Insn<R>,
    /// Map names by [`MapId`].
    pub maps: &'a [String],
    /// The resolved jump offset in slots, after layout.
    pub jump: Option<i16>,
}

impl<R: Copy + fmt::Display> fmt::Display for Show<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let wreg = |r: R| {
            let s = r.to_string();
            match s.strip_prefix('r') {
                Some(n) => format!("w{n}"),
                None => format!("w({s})"),
            }
        };
        let src = |s: Src<R>, w: bool| match s {
            Src::Reg(r) if w => wreg(r),
            Src::Reg(r) => r.to_string(),
            Src::Imm(i) => i.to_string(),
        };
        let target = |l: Label| match self.jump {
            Some(rel) => format!("pc{rel:+}"),
            None => l.to_string(),
        };
        match *self.insn {
            Insn::Alu64 {
                op: AluOp::Neg,
                dst,
                ..
            } => write!(f, "{dst} = -{dst}"),
            Insn::Alu64 { op, dst, src: s } => write!(f, "{dst} {} {}", op.sym(), src(s, false)),
            Insn::Alu32 {
                op: AluOp::Neg,
                dst,
                ..
            } => write!(f, "{0} = -{0}", wreg(dst)),
            Insn::Alu32 { op, dst, src: s } => {
                write!(f, "{} {} {}", wreg(dst), op.sym(), src(s, true))
            }
            Insn::Sext32 { dst } => write!(f, "{dst} = (s32){}", wreg(dst)),
            Insn::ToBe { dst, bits } => write!(f, "{dst} = be{bits} {dst}"),
            Insn::LdImm64 { dst, imm } => write!(f, "{dst} = {imm:#x} ll"),
            Insn::LdMap { dst, map } => {
                let name = self.maps.get(map.0 as usize).map_or("?", |s| s.as_str());
                write!(f, "{dst} = map[{name}] ll")
            }
            Insn::Ldx {
                size,
                dst,
                src,
                off,
            } => write!(f, "{dst} = *({} *)({src} {off:+})", size.c_name()),
            Insn::St {
                size,
                dst,
                off,
                imm,
            } => write!(f, "*({} *)({dst} {off:+}) = {imm}", size.c_name()),
            Insn::Stx {
                size,
                dst,
                src,
                off,
            } => write!(f, "*({} *)({dst} {off:+}) = {src}", size.c_name()),
            Insn::AtomicAdd {
                size,
                dst,
                src,
                off,
            } => write!(f, "lock *({} *)({dst} {off:+}) += {src}", size.c_name()),
            Insn::LdAbs { size, imm } => write!(f, "r0 = *({} *)skb[{imm}]", size.c_name()),
            Insn::LdInd { size, src, imm } => {
                write!(f, "r0 = *({} *)skb[{src} {imm:+}]", size.c_name())
            }
            Insn::Ja { target: l } => write!(f, "goto {}", target(l)),
            Insn::Jmp {
                op,
                dst,
                src: s,
                target: l,
            } => write!(
                f,
                "if {dst} {} {} goto {}",
                op.sym(),
                src(s, false),
                target(l)
            ),
            Insn::Call { helper } => write!(f, "call {}#{}", helper.name(), helper.id()),
            Insn::Exit => write!(f, "exit"),
        }
    }
}

impl RawInsn {
    /// The slot from its little-endian bytes (inverse of [`RawInsn::to_bytes`]).
    pub fn from_bytes(b: [u8; 8]) -> RawInsn {
        RawInsn {
            code: b[0],
            dst: b[1] & 0x0f,
            src: b[1] >> 4,
            off: i16::from_le_bytes([b[2], b[3]]),
            imm: i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }

    /// Every slot of raw little-endian code (a trailing partial slot is an error).
    pub fn parse(code: &[u8]) -> Result<Vec<RawInsn>, DecodeError> {
        if !code.len().is_multiple_of(8) {
            return Err(DecodeError {
                slot: code.len() / 8,
                message: format!("{} bytes is not a whole number of slots", code.len()),
            });
        }
        Ok(code
            .chunks_exact(8)
            .map(|c| RawInsn::from_bytes(c.try_into().expect("8-byte chunk")))
            .collect())
    }
}

/// A slot [`decode`] does not accept: an opcode ljbpf never emits (e.g. ISA v4's `BSWAP`,
/// `MOVSX` of 8/16 bits, `LDX MEMSX`, `JMP32`) or malformed fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// The slot.
    pub slot: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "slot {}: {}", self.slot, self.message)
    }
}

impl std::error::Error for DecodeError {}

/// One decoded instruction: its first slot, the instruction (a jump's [`Label`] is the slot it
/// lands on) and its raw jump offset (0 for non-jumps).
pub type Decoded = (usize, Insn<Reg>, i16);

/// Decodes the instruction at slot `at` of `slots`: the inverse of [`Insn::encode`] for every
/// instruction it can produce, an error for anything else. A jump's target becomes
/// `Label(at + 1 + off)`; a map load keeps its immediate (the map's index or fd) as [`MapId`]
/// (the ELF writer leaves it 0 and records a relocation instead).
pub fn decode(slots: &[RawInsn], at: usize) -> Result<(Insn<Reg>, i16), DecodeError> {
    let err = |message: String| DecodeError { slot: at, message };
    let raw = *slots
        .get(at)
        .ok_or_else(|| err("past the end of the code".to_owned()))?;
    let reg = |n: u8| -> Result<Reg, DecodeError> {
        if n <= 10 {
            Ok(Reg(n))
        } else {
            Err(err(format!("register r{n} does not exist")))
        }
    };
    let (dst, src) = (reg(raw.dst)?, reg(raw.src)?);
    // Fields the form does not use must be zero (the kernel rejects them as reserved).
    let zero = |what: &str, v: i64| -> Result<(), DecodeError> {
        if v == 0 {
            Ok(())
        } else {
            Err(err(format!(
                "opcode {:#04x}: {what} is {v}, not 0",
                raw.code
            )))
        }
    };
    let size = match raw.code & 0x18 {
        0x00 => Size::W,
        0x08 => Size::H,
        0x10 => Size::B,
        _ => Size::DW,
    };
    let target = Label((at as i64 + 1 + i64::from(raw.off)) as u32);
    let insn = match raw.code & 0x07 {
        CLS_ALU64 | CLS_ALU => {
            let wide = raw.code & 0x07 == CLS_ALU64;
            let x = raw.code & SRC_X != 0;
            let op = match (raw.code & 0xf0, raw.off) {
                (0x00, 0) => AluOp::Add,
                (0x10, 0) => AluOp::Sub,
                (0x20, 0) => AluOp::Mul,
                (0x30, 0) => AluOp::Div,
                (0x30, 1) => AluOp::SDiv,
                (0x40, 0) => AluOp::Or,
                (0x50, 0) => AluOp::And,
                (0x60, 0) => AluOp::Lsh,
                (0x70, 0) => AluOp::Rsh,
                (0x80, 0) => AluOp::Neg,
                (0x90, 0) => AluOp::Mod,
                (0x90, 1) => AluOp::SMod,
                (0xa0, 0) => AluOp::Xor,
                (0xb0, 0) => AluOp::Mov,
                // MOVSX (ISA v4): only the 32-bit form, in place, is ever emitted.
                (0xb0, 32) if wide && x && dst == src => {
                    zero("imm", i64::from(raw.imm))?;
                    return Ok((Insn::Sext32 { dst }, 0));
                }
                (0xc0, 0) => AluOp::Arsh,
                // BPF_END | BPF_TO_BE in the 32-bit class; BPF_TO_LE and ALU64 BSWAP are not.
                (OP_END, 0) if !wide && x => {
                    zero("src", i64::from(raw.src))?;
                    if !matches!(raw.imm, 16 | 32 | 64) {
                        return Err(err(format!("byte swap of {} bits", raw.imm)));
                    }
                    return Ok((
                        Insn::ToBe {
                            dst,
                            bits: raw.imm as u8,
                        },
                        0,
                    ));
                }
                (op, off) => {
                    return Err(err(format!(
                        "unknown ALU opcode {:#04x} (op {op:#04x}, offset {off})",
                        raw.code
                    )))
                }
            };
            let s = if x {
                zero("imm", i64::from(raw.imm))?;
                Src::Reg(src)
            } else {
                zero("src", i64::from(raw.src))?;
                Src::Imm(raw.imm)
            };
            if wide {
                Insn::Alu64 { op, dst, src: s }
            } else {
                Insn::Alu32 { op, dst, src: s }
            }
        }
        CLS_LD => match raw.code & 0xe0 {
            MODE_IMM if size == Size::DW => {
                zero("offset", i64::from(raw.off))?;
                let next = slots
                    .get(at + 1)
                    .ok_or_else(|| err("LD_IMM64 without its second slot".to_owned()))?;
                if next.code != 0 || next.dst != 0 || next.src != 0 || next.off != 0 {
                    return Err(err("malformed second slot of LD_IMM64".to_owned()));
                }
                match raw.src {
                    0 => Insn::LdImm64 {
                        dst,
                        imm: (i64::from(next.imm) << 32) | i64::from(raw.imm as u32),
                    },
                    PSEUDO_MAP_FD => {
                        zero("second immediate", i64::from(next.imm))?;
                        Insn::LdMap {
                            dst,
                            map: MapId(raw.imm as u32),
                        }
                    }
                    s => return Err(err(format!("LD_IMM64 with src_reg {s}"))),
                }
            }
            MODE_ABS => {
                zero("dst", i64::from(raw.dst))?;
                zero("src", i64::from(raw.src))?;
                zero("offset", i64::from(raw.off))?;
                Insn::LdAbs { size, imm: raw.imm }
            }
            MODE_IND => {
                zero("dst", i64::from(raw.dst))?;
                zero("offset", i64::from(raw.off))?;
                Insn::LdInd {
                    size,
                    src,
                    imm: raw.imm,
                }
            }
            _ => return Err(err(format!("unknown LD opcode {:#04x}", raw.code))),
        },
        CLS_LDX if raw.code & 0xe0 == MODE_MEM => {
            zero("imm", i64::from(raw.imm))?;
            Insn::Ldx {
                size,
                dst,
                src,
                off: raw.off,
            }
        }
        CLS_ST if raw.code & 0xe0 == MODE_MEM => {
            zero("src", i64::from(raw.src))?;
            Insn::St {
                size,
                dst,
                off: raw.off,
                imm: raw.imm,
            }
        }
        CLS_STX if raw.code & 0xe0 == MODE_MEM => {
            zero("imm", i64::from(raw.imm))?;
            Insn::Stx {
                size,
                dst,
                src,
                off: raw.off,
            }
        }
        CLS_STX if raw.code & 0xe0 == MODE_ATOMIC && raw.imm == ATOMIC_ADD => Insn::AtomicAdd {
            size,
            dst,
            src,
            off: raw.off,
        },
        CLS_JMP => {
            let x = raw.code & SRC_X != 0;
            let cond = |op: JmpOp| -> Result<Insn<Reg>, DecodeError> {
                let s = if x {
                    zero("imm", i64::from(raw.imm))?;
                    Src::Reg(src)
                } else {
                    zero("src", i64::from(raw.src))?;
                    Src::Imm(raw.imm)
                };
                Ok(Insn::Jmp {
                    op,
                    dst,
                    src: s,
                    target,
                })
            };
            match raw.code & 0xf0 {
                OP_JA if !x => {
                    zero("dst", i64::from(raw.dst))?;
                    zero("src", i64::from(raw.src))?;
                    zero("imm", i64::from(raw.imm))?;
                    Insn::Ja { target }
                }
                OP_CALL if !x => {
                    zero("src (pseudo call)", i64::from(raw.src))?;
                    zero("dst", i64::from(raw.dst))?;
                    zero("offset", i64::from(raw.off))?;
                    let helper = Helper::from_id(raw.imm as u32)
                        .ok_or_else(|| err(format!("unknown helper {}", raw.imm)))?;
                    return Ok((Insn::Call { helper }, 0));
                }
                OP_EXIT if !x => {
                    zero("dst", i64::from(raw.dst))?;
                    zero("src", i64::from(raw.src))?;
                    zero("offset", i64::from(raw.off))?;
                    zero("imm", i64::from(raw.imm))?;
                    return Ok((Insn::Exit, 0));
                }
                0x10 => cond(JmpOp::Jeq)?,
                0x20 => cond(JmpOp::Jgt)?,
                0x30 => cond(JmpOp::Jge)?,
                0x40 => cond(JmpOp::Jset)?,
                0x50 => cond(JmpOp::Jne)?,
                0x60 => cond(JmpOp::Jsgt)?,
                0x70 => cond(JmpOp::Jsge)?,
                0xa0 => cond(JmpOp::Jlt)?,
                0xb0 => cond(JmpOp::Jle)?,
                0xc0 => cond(JmpOp::Jslt)?,
                0xd0 => cond(JmpOp::Jsle)?,
                _ => return Err(err(format!("unknown JMP opcode {:#04x}", raw.code))),
            }
        }
        _ => return Err(err(format!("unknown opcode {:#04x}", raw.code))),
    };
    let off = if insn.target().is_some() { raw.off } else { 0 };
    Ok((insn, off))
}

/// Decodes a whole program (see [`decode`]).
pub fn decode_all(slots: &[RawInsn]) -> Result<Vec<Decoded>, DecodeError> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < slots.len() {
        let (insn, off) = decode(slots, at)?;
        out.push((at, insn, off));
        at += insn.slots() as usize;
    }
    Ok(out)
}
