//! The encoding table: every opcode form the compiler emits, with its bytes and its text.
//!
//! Each case is checked three ways: `Insn::encode` gives the bytes, `decode` gives the
//! instruction back, and `Show` gives the kernel-syntax text.
//!
//! Where the bytes come from (an independent source, not our encoder), noted per case:
//!
//! - `llvm`: assembled once with `llvm-mc -triple bpfel -show-encoding` (LLVM 14) from the
//!   LLVM BPF assembly of the same instruction (e.g. `r1 += -7`, `if r1 s< r2 goto +5`);
//! - `objdump`: written by hand and confirmed with `llvm-objdump -d` (`ld_pseudo r1, 1, 0`);
//! - `spec`: forms LLVM 14's assembler does not take (`%=`, `BPF_ST` with an immediate, `&`
//!   jumps, and ISA v4's signed division and `MOVSX`), encoded by hand from the opcode tables of
//!   Documentation/bpf/standardization/instruction-set.rst ("Arithmetic instructions": MOD is
//!   0x90, SDIV/SMOD are DIV/MOD with offset 1, MOVSX is MOV with offset 8/16/32; "Jump
//!   instructions": JSET is 0x40; "Regular load and store operations": `BPF_ST | BPF_MEM`).
//!
//! LLVM itself is not needed to run this test.

use ljbpf_core::helper::Helper;
use ljbpf_core::insn::{decode, AluOp, Insn, JmpOp, Label, MapId, RawInsn, Reg, Show, Size, Src};

struct Case {
    insn: Insn<Reg>,
    /// Jump offset in slots (0 for non-jumps).
    off: i16,
    bytes: &'static [u8],
    text: &'static str,
}

#[rustfmt::skip]
const CASES: &[Case] = &[
    // llvm
    Case { insn: Insn::Alu64 { op: AluOp::Add, dst: Reg(1), src: Src::Reg(Reg(2)) }, off: 0, bytes: &[0x0f, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00], text: "r1 += r2" },
    // llvm
    Case { insn: Insn::Alu64 { op: AluOp::Add, dst: Reg(1), src: Src::Imm(-7) }, off: 0, bytes: &[0x07, 0x01, 0x00, 0x00, 0xf9, 0xff, 0xff, 0xff], text: "r1 += -7" },
    // llvm
    Case { insn: Insn::Alu32 { op: AluOp::Add, dst: Reg(1), src: Src::Reg(Reg(2)) }, off: 0, bytes: &[0x0c, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00], text: "w1 += w2" },
    // llvm
    Case { insn: Insn::Alu32 { op: AluOp::Add, dst: Reg(1), src: Src::Imm(7) }, off: 0, bytes: &[0x04, 0x01, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00], text: "w1 += 7" },
    // llvm
    Case { insn: Insn::Alu64 { op: AluOp::Sub, dst: Reg(1), src: Src::Reg(Reg(2)) }, off: 0, bytes: &[0x1f, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00], text: "r1 -= r2" },
    // llvm
    Case { insn: Insn::Alu64 { op: AluOp::Sub, dst: Reg(1), src: Src::Imm(-7) }, off: 0, bytes: &[0x17, 0x01, 0x00, 0x00, 0xf9, 0xff, 0xff, 0xff], text: "r1 -= -7" },
    // llvm
    Case { insn: Insn::Alu32 { op: AluOp::Sub, dst: Reg(1), src: Src::Reg(Reg(2)) }, off: 0, bytes: &[0x1c, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00], text: "w1 -= w2" },
    // llvm
    Case { insn: Insn::Alu32 { op: AluOp::Sub, dst: Reg(1), src: Src::Imm(7) }, off: 0, bytes: &[0x14, 0x01, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00], text: "w1 -= 7" },
    // llvm
    Case { insn: Insn::Alu64 { op: AluOp::Mul, dst: Reg(1), src: Src::Reg(Reg(2)) }, off: 0, bytes: &[0x2f, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00], text: "r1 *= r2" },
    // llvm
    Case { insn: Insn::Alu64 { op: AluOp::Mul, dst: Reg(1), src: Src::Imm(-7) }, off: 0, bytes: &[0x27, 0x01, 0x00, 0x00, 0xf9, 0xff, 0xff, 0xff], text: "r1 *= -7" },
    // llvm
    Case { insn: Insn::Alu32 { op: AluOp::Mul, dst: Reg(1), src: Src::Reg(Reg(2)) }, off: 0, bytes: &[0x2c, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00], text: "w1 *= w2" },
    // llvm
    Case { insn: Insn::Alu32 { op: AluOp::Mul, dst: Reg(1), src: Src::Imm(7) }, off: 0, bytes: &[0x24, 0x01, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00], text: "w1 *= 7" },
    // llvm
    Case { insn: Insn::Alu64 { op: AluOp::Div, dst: Reg(1), src: Src::Reg(Reg(2)) }, off: 0, bytes: &[0x3f, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00], text: "r1 /= r2" },
    // llvm
    Case { insn: Insn::Alu64 { op: AluOp::Div, dst: Reg(1), src: Src::Imm(-7) }, off: 0, bytes: &[0x37, 0x01, 0x00, 0x00, 0xf9, 0xff, 0xff, 0xff], text: "r1 /= -7" },
    // llvm
    Case { insn: Insn::Alu32 { op: AluOp::Div, dst: Reg(1), src: Src::Reg(Reg(2)) }, off: 0, bytes: &[0x3c, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00], text: "w1 /= w2" },
    // llvm
    Case { insn: Insn::Alu32 { op: AluOp::Div, dst: Reg(1), src: Src::Imm(7) }, off: 0, bytes: &[0x34, 0x01, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00], text: "w1 /= 7" },
    // llvm
    Case { insn: Insn::Alu64 { op: AluOp::Or, dst: Reg(1), src: Src::Reg(Reg(2)) }, off: 0, bytes: &[0x4f, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00], text: "r1 |= r2" },
    // llvm
    Case { insn: Insn::Alu64 { op: AluOp::Or, dst: Reg(1), src: Src::Imm(-7) }, off: 0, bytes: &[0x47, 0x01, 0x00, 0x00, 0xf9, 0xff, 0xff, 0xff], text: "r1 |= -7" },
    // llvm
    Case { insn: Insn::Alu32 { op: AluOp::Or, dst: Reg(1), src: Src::Reg(Reg(2)) }, off: 0, bytes: &[0x4c, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00], text: "w1 |= w2" },
    // llvm
    Case { insn: Insn::Alu32 { op: AluOp::Or, dst: Reg(1), src: Src::Imm(7) }, off: 0, bytes: &[0x44, 0x01, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00], text: "w1 |= 7" },
    // llvm
    Case { insn: Insn::Alu64 { op: AluOp::And, dst: Reg(1), src: Src::Reg(Reg(2)) }, off: 0, bytes: &[0x5f, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00], text: "r1 &= r2" },
    // llvm
    Case { insn: Insn::Alu64 { op: AluOp::And, dst: Reg(1), src: Src::Imm(-7) }, off: 0, bytes: &[0x57, 0x01, 0x00, 0x00, 0xf9, 0xff, 0xff, 0xff], text: "r1 &= -7" },
    // llvm
    Case { insn: Insn::Alu32 { op: AluOp::And, dst: Reg(1), src: Src::Reg(Reg(2)) }, off: 0, bytes: &[0x5c, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00], text: "w1 &= w2" },
    // llvm
    Case { insn: Insn::Alu32 { op: AluOp::And, dst: Reg(1), src: Src::Imm(7) }, off: 0, bytes: &[0x54, 0x01, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00], text: "w1 &= 7" },
    // llvm
    Case { insn: Insn::Alu64 { op: AluOp::Lsh, dst: Reg(1), src: Src::Reg(Reg(2)) }, off: 0, bytes: &[0x6f, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00], text: "r1 <<= r2" },
    // llvm
    Case { insn: Insn::Alu64 { op: AluOp::Lsh, dst: Reg(1), src: Src::Imm(-7) }, off: 0, bytes: &[0x67, 0x01, 0x00, 0x00, 0xf9, 0xff, 0xff, 0xff], text: "r1 <<= -7" },
    // llvm
    Case { insn: Insn::Alu32 { op: AluOp::Lsh, dst: Reg(1), src: Src::Reg(Reg(2)) }, off: 0, bytes: &[0x6c, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00], text: "w1 <<= w2" },
    // llvm
    Case { insn: Insn::Alu32 { op: AluOp::Lsh, dst: Reg(1), src: Src::Imm(7) }, off: 0, bytes: &[0x64, 0x01, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00], text: "w1 <<= 7" },
    // llvm
    Case { insn: Insn::Alu64 { op: AluOp::Rsh, dst: Reg(1), src: Src::Reg(Reg(2)) }, off: 0, bytes: &[0x7f, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00], text: "r1 >>= r2" },
    // llvm
    Case { insn: Insn::Alu64 { op: AluOp::Rsh, dst: Reg(1), src: Src::Imm(-7) }, off: 0, bytes: &[0x77, 0x01, 0x00, 0x00, 0xf9, 0xff, 0xff, 0xff], text: "r1 >>= -7" },
    // llvm
    Case { insn: Insn::Alu32 { op: AluOp::Rsh, dst: Reg(1), src: Src::Reg(Reg(2)) }, off: 0, bytes: &[0x7c, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00], text: "w1 >>= w2" },
    // llvm
    Case { insn: Insn::Alu32 { op: AluOp::Rsh, dst: Reg(1), src: Src::Imm(7) }, off: 0, bytes: &[0x74, 0x01, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00], text: "w1 >>= 7" },
    // spec
    Case { insn: Insn::Alu64 { op: AluOp::Mod, dst: Reg(1), src: Src::Reg(Reg(2)) }, off: 0, bytes: &[0x9f, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00], text: "r1 %= r2" },
    // spec
    Case { insn: Insn::Alu64 { op: AluOp::Mod, dst: Reg(1), src: Src::Imm(-7) }, off: 0, bytes: &[0x97, 0x01, 0x00, 0x00, 0xf9, 0xff, 0xff, 0xff], text: "r1 %= -7" },
    // spec
    Case { insn: Insn::Alu32 { op: AluOp::Mod, dst: Reg(1), src: Src::Reg(Reg(2)) }, off: 0, bytes: &[0x9c, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00], text: "w1 %= w2" },
    // spec
    Case { insn: Insn::Alu32 { op: AluOp::Mod, dst: Reg(1), src: Src::Imm(7) }, off: 0, bytes: &[0x94, 0x01, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00], text: "w1 %= 7" },
    // llvm
    Case { insn: Insn::Alu64 { op: AluOp::Xor, dst: Reg(1), src: Src::Reg(Reg(2)) }, off: 0, bytes: &[0xaf, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00], text: "r1 ^= r2" },
    // llvm
    Case { insn: Insn::Alu64 { op: AluOp::Xor, dst: Reg(1), src: Src::Imm(-7) }, off: 0, bytes: &[0xa7, 0x01, 0x00, 0x00, 0xf9, 0xff, 0xff, 0xff], text: "r1 ^= -7" },
    // llvm
    Case { insn: Insn::Alu32 { op: AluOp::Xor, dst: Reg(1), src: Src::Reg(Reg(2)) }, off: 0, bytes: &[0xac, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00], text: "w1 ^= w2" },
    // llvm
    Case { insn: Insn::Alu32 { op: AluOp::Xor, dst: Reg(1), src: Src::Imm(7) }, off: 0, bytes: &[0xa4, 0x01, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00], text: "w1 ^= 7" },
    // llvm
    Case { insn: Insn::Alu64 { op: AluOp::Mov, dst: Reg(1), src: Src::Reg(Reg(2)) }, off: 0, bytes: &[0xbf, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00], text: "r1 = r2" },
    // llvm
    Case { insn: Insn::Alu64 { op: AluOp::Mov, dst: Reg(1), src: Src::Imm(-7) }, off: 0, bytes: &[0xb7, 0x01, 0x00, 0x00, 0xf9, 0xff, 0xff, 0xff], text: "r1 = -7" },
    // llvm
    Case { insn: Insn::Alu32 { op: AluOp::Mov, dst: Reg(1), src: Src::Reg(Reg(2)) }, off: 0, bytes: &[0xbc, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00], text: "w1 = w2" },
    // llvm
    Case { insn: Insn::Alu32 { op: AluOp::Mov, dst: Reg(1), src: Src::Imm(7) }, off: 0, bytes: &[0xb4, 0x01, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00], text: "w1 = 7" },
    // llvm
    Case { insn: Insn::Alu64 { op: AluOp::Arsh, dst: Reg(1), src: Src::Reg(Reg(2)) }, off: 0, bytes: &[0xcf, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00], text: "r1 s>>= r2" },
    // llvm
    Case { insn: Insn::Alu64 { op: AluOp::Arsh, dst: Reg(1), src: Src::Imm(-7) }, off: 0, bytes: &[0xc7, 0x01, 0x00, 0x00, 0xf9, 0xff, 0xff, 0xff], text: "r1 s>>= -7" },
    // llvm
    Case { insn: Insn::Alu32 { op: AluOp::Arsh, dst: Reg(1), src: Src::Reg(Reg(2)) }, off: 0, bytes: &[0xcc, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00], text: "w1 s>>= w2" },
    // llvm
    Case { insn: Insn::Alu32 { op: AluOp::Arsh, dst: Reg(1), src: Src::Imm(7) }, off: 0, bytes: &[0xc4, 0x01, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00], text: "w1 s>>= 7" },
    // spec
    Case { insn: Insn::Alu64 { op: AluOp::SDiv, dst: Reg(1), src: Src::Reg(Reg(2)) }, off: 0, bytes: &[0x3f, 0x21, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00], text: "r1 s/= r2" },
    // spec
    Case { insn: Insn::Alu64 { op: AluOp::SDiv, dst: Reg(1), src: Src::Imm(-7) }, off: 0, bytes: &[0x37, 0x01, 0x01, 0x00, 0xf9, 0xff, 0xff, 0xff], text: "r1 s/= -7" },
    // spec
    Case { insn: Insn::Alu32 { op: AluOp::SDiv, dst: Reg(1), src: Src::Reg(Reg(2)) }, off: 0, bytes: &[0x3c, 0x21, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00], text: "w1 s/= w2" },
    // spec
    Case { insn: Insn::Alu32 { op: AluOp::SDiv, dst: Reg(1), src: Src::Imm(7) }, off: 0, bytes: &[0x34, 0x01, 0x01, 0x00, 0x07, 0x00, 0x00, 0x00], text: "w1 s/= 7" },
    // spec
    Case { insn: Insn::Alu64 { op: AluOp::SMod, dst: Reg(1), src: Src::Reg(Reg(2)) }, off: 0, bytes: &[0x9f, 0x21, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00], text: "r1 s%= r2" },
    // spec
    Case { insn: Insn::Alu64 { op: AluOp::SMod, dst: Reg(1), src: Src::Imm(-7) }, off: 0, bytes: &[0x97, 0x01, 0x01, 0x00, 0xf9, 0xff, 0xff, 0xff], text: "r1 s%= -7" },
    // spec
    Case { insn: Insn::Alu32 { op: AluOp::SMod, dst: Reg(1), src: Src::Reg(Reg(2)) }, off: 0, bytes: &[0x9c, 0x21, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00], text: "w1 s%= w2" },
    // spec
    Case { insn: Insn::Alu32 { op: AluOp::SMod, dst: Reg(1), src: Src::Imm(7) }, off: 0, bytes: &[0x94, 0x01, 0x01, 0x00, 0x07, 0x00, 0x00, 0x00], text: "w1 s%= 7" },
    // llvm
    Case { insn: Insn::Alu64 { op: AluOp::Neg, dst: Reg(1), src: Src::Imm(0) }, off: 0, bytes: &[0x87, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00], text: "r1 = -r1" },
    // llvm
    Case { insn: Insn::Alu32 { op: AluOp::Neg, dst: Reg(1), src: Src::Imm(0) }, off: 0, bytes: &[0x84, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00], text: "w1 = -w1" },
    // spec
    Case { insn: Insn::Sext32 { dst: Reg(1) }, off: 0, bytes: &[0xbf, 0x11, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00], text: "r1 = (s32)w1" },
    // llvm
    Case { insn: Insn::ToBe { dst: Reg(1), bits: 16 }, off: 0, bytes: &[0xdc, 0x01, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00], text: "r1 = be16 r1" },
    // llvm
    Case { insn: Insn::ToBe { dst: Reg(1), bits: 32 }, off: 0, bytes: &[0xdc, 0x01, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00], text: "r1 = be32 r1" },
    // llvm
    Case { insn: Insn::ToBe { dst: Reg(1), bits: 64 }, off: 0, bytes: &[0xdc, 0x01, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00], text: "r1 = be64 r1" },
    // llvm
    Case { insn: Insn::LdImm64 { dst: Reg(1), imm: 0x1234_5678_9abc_def0 }, off: 0, bytes: &[0x18, 0x01, 0x00, 0x00, 0xf0, 0xde, 0xbc, 0x9a, 0x00, 0x00, 0x00, 0x00, 0x78, 0x56, 0x34, 0x12], text: "r1 = 0x123456789abcdef0 ll" },
    // llvm
    Case { insn: Insn::LdImm64 { dst: Reg(1), imm: -2 }, off: 0, bytes: &[0x18, 0x01, 0x00, 0x00, 0xfe, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff], text: "r1 = 0xfffffffffffffffe ll" },
    // objdump
    Case { insn: Insn::LdMap { dst: Reg(1), map: MapId(0) }, off: 0, bytes: &[0x18, 0x11, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00], text: "r1 = map[m] ll" },
    // llvm
    Case { insn: Insn::Ldx { size: Size::B, dst: Reg(1), src: Reg(2), off: -16 }, off: 0, bytes: &[0x71, 0x21, 0xf0, 0xff, 0x00, 0x00, 0x00, 0x00], text: "r1 = *(u8 *)(r2 -16)" },
    // llvm
    Case { insn: Insn::Stx { size: Size::B, dst: Reg(10), src: Reg(3), off: -8 }, off: 0, bytes: &[0x73, 0x3a, 0xf8, 0xff, 0x00, 0x00, 0x00, 0x00], text: "*(u8 *)(r10 -8) = r3" },
    // spec
    Case { insn: Insn::St { size: Size::B, dst: Reg(10), off: -8, imm: -3 }, off: 0, bytes: &[0x72, 0x0a, 0xf8, 0xff, 0xfd, 0xff, 0xff, 0xff], text: "*(u8 *)(r10 -8) = -3" },
    // llvm
    Case { insn: Insn::Ldx { size: Size::H, dst: Reg(1), src: Reg(2), off: -16 }, off: 0, bytes: &[0x69, 0x21, 0xf0, 0xff, 0x00, 0x00, 0x00, 0x00], text: "r1 = *(u16 *)(r2 -16)" },
    // llvm
    Case { insn: Insn::Stx { size: Size::H, dst: Reg(10), src: Reg(3), off: -8 }, off: 0, bytes: &[0x6b, 0x3a, 0xf8, 0xff, 0x00, 0x00, 0x00, 0x00], text: "*(u16 *)(r10 -8) = r3" },
    // spec
    Case { insn: Insn::St { size: Size::H, dst: Reg(10), off: -8, imm: -3 }, off: 0, bytes: &[0x6a, 0x0a, 0xf8, 0xff, 0xfd, 0xff, 0xff, 0xff], text: "*(u16 *)(r10 -8) = -3" },
    // llvm
    Case { insn: Insn::Ldx { size: Size::W, dst: Reg(1), src: Reg(2), off: -16 }, off: 0, bytes: &[0x61, 0x21, 0xf0, 0xff, 0x00, 0x00, 0x00, 0x00], text: "r1 = *(u32 *)(r2 -16)" },
    // llvm
    Case { insn: Insn::Stx { size: Size::W, dst: Reg(10), src: Reg(3), off: -8 }, off: 0, bytes: &[0x63, 0x3a, 0xf8, 0xff, 0x00, 0x00, 0x00, 0x00], text: "*(u32 *)(r10 -8) = r3" },
    // spec
    Case { insn: Insn::St { size: Size::W, dst: Reg(10), off: -8, imm: -3 }, off: 0, bytes: &[0x62, 0x0a, 0xf8, 0xff, 0xfd, 0xff, 0xff, 0xff], text: "*(u32 *)(r10 -8) = -3" },
    // llvm
    Case { insn: Insn::Ldx { size: Size::DW, dst: Reg(1), src: Reg(2), off: -16 }, off: 0, bytes: &[0x79, 0x21, 0xf0, 0xff, 0x00, 0x00, 0x00, 0x00], text: "r1 = *(u64 *)(r2 -16)" },
    // llvm
    Case { insn: Insn::Stx { size: Size::DW, dst: Reg(10), src: Reg(3), off: -8 }, off: 0, bytes: &[0x7b, 0x3a, 0xf8, 0xff, 0x00, 0x00, 0x00, 0x00], text: "*(u64 *)(r10 -8) = r3" },
    // spec
    Case { insn: Insn::St { size: Size::DW, dst: Reg(10), off: -8, imm: -3 }, off: 0, bytes: &[0x7a, 0x0a, 0xf8, 0xff, 0xfd, 0xff, 0xff, 0xff], text: "*(u64 *)(r10 -8) = -3" },
    // llvm
    Case { insn: Insn::AtomicAdd { size: Size::DW, dst: Reg(1), src: Reg(2), off: 8 }, off: 0, bytes: &[0xdb, 0x21, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00], text: "lock *(u64 *)(r1 +8) += r2" },
    // llvm
    Case { insn: Insn::AtomicAdd { size: Size::W, dst: Reg(1), src: Reg(2), off: 8 }, off: 0, bytes: &[0xc3, 0x21, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00], text: "lock *(u32 *)(r1 +8) += r2" },
    // llvm
    Case { insn: Insn::LdAbs { size: Size::B, imm: 14 }, off: 0, bytes: &[0x30, 0x00, 0x00, 0x00, 0x0e, 0x00, 0x00, 0x00], text: "r0 = *(u8 *)skb[14]" },
    // llvm
    Case { insn: Insn::LdInd { size: Size::B, src: Reg(7), imm: 0 }, off: 0, bytes: &[0x50, 0x70, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00], text: "r0 = *(u8 *)skb[r7 +0]" },
    // llvm
    Case { insn: Insn::LdAbs { size: Size::H, imm: 14 }, off: 0, bytes: &[0x28, 0x00, 0x00, 0x00, 0x0e, 0x00, 0x00, 0x00], text: "r0 = *(u16 *)skb[14]" },
    // llvm
    Case { insn: Insn::LdInd { size: Size::H, src: Reg(7), imm: 0 }, off: 0, bytes: &[0x48, 0x70, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00], text: "r0 = *(u16 *)skb[r7 +0]" },
    // llvm
    Case { insn: Insn::LdAbs { size: Size::W, imm: 14 }, off: 0, bytes: &[0x20, 0x00, 0x00, 0x00, 0x0e, 0x00, 0x00, 0x00], text: "r0 = *(u32 *)skb[14]" },
    // llvm
    Case { insn: Insn::LdInd { size: Size::W, src: Reg(7), imm: 0 }, off: 0, bytes: &[0x40, 0x70, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00], text: "r0 = *(u32 *)skb[r7 +0]" },
    // llvm
    Case { insn: Insn::Jmp { op: JmpOp::Jeq, dst: Reg(1), src: Src::Reg(Reg(2)), target: Label(0) }, off: 5, bytes: &[0x1d, 0x21, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00], text: "if r1 == r2 goto pc+5" },
    // llvm
    Case { insn: Insn::Jmp { op: JmpOp::Jeq, dst: Reg(1), src: Src::Imm(-3), target: Label(0) }, off: -4, bytes: &[0x15, 0x01, 0xfc, 0xff, 0xfd, 0xff, 0xff, 0xff], text: "if r1 == -3 goto pc-4" },
    // llvm
    Case { insn: Insn::Jmp { op: JmpOp::Jgt, dst: Reg(1), src: Src::Reg(Reg(2)), target: Label(0) }, off: 5, bytes: &[0x2d, 0x21, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00], text: "if r1 > r2 goto pc+5" },
    // llvm
    Case { insn: Insn::Jmp { op: JmpOp::Jgt, dst: Reg(1), src: Src::Imm(-3), target: Label(0) }, off: -4, bytes: &[0x25, 0x01, 0xfc, 0xff, 0xfd, 0xff, 0xff, 0xff], text: "if r1 > -3 goto pc-4" },
    // llvm
    Case { insn: Insn::Jmp { op: JmpOp::Jge, dst: Reg(1), src: Src::Reg(Reg(2)), target: Label(0) }, off: 5, bytes: &[0x3d, 0x21, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00], text: "if r1 >= r2 goto pc+5" },
    // llvm
    Case { insn: Insn::Jmp { op: JmpOp::Jge, dst: Reg(1), src: Src::Imm(-3), target: Label(0) }, off: -4, bytes: &[0x35, 0x01, 0xfc, 0xff, 0xfd, 0xff, 0xff, 0xff], text: "if r1 >= -3 goto pc-4" },
    // spec
    Case { insn: Insn::Jmp { op: JmpOp::Jset, dst: Reg(1), src: Src::Reg(Reg(2)), target: Label(0) }, off: 5, bytes: &[0x4d, 0x21, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00], text: "if r1 & r2 goto pc+5" },
    // spec
    Case { insn: Insn::Jmp { op: JmpOp::Jset, dst: Reg(1), src: Src::Imm(-3), target: Label(0) }, off: -4, bytes: &[0x45, 0x01, 0xfc, 0xff, 0xfd, 0xff, 0xff, 0xff], text: "if r1 & -3 goto pc-4" },
    // llvm
    Case { insn: Insn::Jmp { op: JmpOp::Jne, dst: Reg(1), src: Src::Reg(Reg(2)), target: Label(0) }, off: 5, bytes: &[0x5d, 0x21, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00], text: "if r1 != r2 goto pc+5" },
    // llvm
    Case { insn: Insn::Jmp { op: JmpOp::Jne, dst: Reg(1), src: Src::Imm(-3), target: Label(0) }, off: -4, bytes: &[0x55, 0x01, 0xfc, 0xff, 0xfd, 0xff, 0xff, 0xff], text: "if r1 != -3 goto pc-4" },
    // llvm
    Case { insn: Insn::Jmp { op: JmpOp::Jsgt, dst: Reg(1), src: Src::Reg(Reg(2)), target: Label(0) }, off: 5, bytes: &[0x6d, 0x21, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00], text: "if r1 s> r2 goto pc+5" },
    // llvm
    Case { insn: Insn::Jmp { op: JmpOp::Jsgt, dst: Reg(1), src: Src::Imm(-3), target: Label(0) }, off: -4, bytes: &[0x65, 0x01, 0xfc, 0xff, 0xfd, 0xff, 0xff, 0xff], text: "if r1 s> -3 goto pc-4" },
    // llvm
    Case { insn: Insn::Jmp { op: JmpOp::Jsge, dst: Reg(1), src: Src::Reg(Reg(2)), target: Label(0) }, off: 5, bytes: &[0x7d, 0x21, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00], text: "if r1 s>= r2 goto pc+5" },
    // llvm
    Case { insn: Insn::Jmp { op: JmpOp::Jsge, dst: Reg(1), src: Src::Imm(-3), target: Label(0) }, off: -4, bytes: &[0x75, 0x01, 0xfc, 0xff, 0xfd, 0xff, 0xff, 0xff], text: "if r1 s>= -3 goto pc-4" },
    // llvm
    Case { insn: Insn::Jmp { op: JmpOp::Jlt, dst: Reg(1), src: Src::Reg(Reg(2)), target: Label(0) }, off: 5, bytes: &[0xad, 0x21, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00], text: "if r1 < r2 goto pc+5" },
    // llvm
    Case { insn: Insn::Jmp { op: JmpOp::Jlt, dst: Reg(1), src: Src::Imm(-3), target: Label(0) }, off: -4, bytes: &[0xa5, 0x01, 0xfc, 0xff, 0xfd, 0xff, 0xff, 0xff], text: "if r1 < -3 goto pc-4" },
    // llvm
    Case { insn: Insn::Jmp { op: JmpOp::Jle, dst: Reg(1), src: Src::Reg(Reg(2)), target: Label(0) }, off: 5, bytes: &[0xbd, 0x21, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00], text: "if r1 <= r2 goto pc+5" },
    // llvm
    Case { insn: Insn::Jmp { op: JmpOp::Jle, dst: Reg(1), src: Src::Imm(-3), target: Label(0) }, off: -4, bytes: &[0xb5, 0x01, 0xfc, 0xff, 0xfd, 0xff, 0xff, 0xff], text: "if r1 <= -3 goto pc-4" },
    // llvm
    Case { insn: Insn::Jmp { op: JmpOp::Jslt, dst: Reg(1), src: Src::Reg(Reg(2)), target: Label(0) }, off: 5, bytes: &[0xcd, 0x21, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00], text: "if r1 s< r2 goto pc+5" },
    // llvm
    Case { insn: Insn::Jmp { op: JmpOp::Jslt, dst: Reg(1), src: Src::Imm(-3), target: Label(0) }, off: -4, bytes: &[0xc5, 0x01, 0xfc, 0xff, 0xfd, 0xff, 0xff, 0xff], text: "if r1 s< -3 goto pc-4" },
    // llvm
    Case { insn: Insn::Jmp { op: JmpOp::Jsle, dst: Reg(1), src: Src::Reg(Reg(2)), target: Label(0) }, off: 5, bytes: &[0xdd, 0x21, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00], text: "if r1 s<= r2 goto pc+5" },
    // llvm
    Case { insn: Insn::Jmp { op: JmpOp::Jsle, dst: Reg(1), src: Src::Imm(-3), target: Label(0) }, off: -4, bytes: &[0xd5, 0x01, 0xfc, 0xff, 0xfd, 0xff, 0xff, 0xff], text: "if r1 s<= -3 goto pc-4" },
    // llvm
    Case { insn: Insn::Ja { target: Label(0) }, off: 2, bytes: &[0x05, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00], text: "goto pc+2" },
    // llvm
    Case { insn: Insn::Call { helper: Helper::MapLookupElem }, off: 0, bytes: &[0x85, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00], text: "call bpf_map_lookup_elem#1" },
    // llvm
    Case { insn: Insn::Call { helper: Helper::RingbufOutput }, off: 0, bytes: &[0x85, 0x00, 0x00, 0x00, 0x82, 0x00, 0x00, 0x00], text: "call bpf_ringbuf_output#130" },
    // llvm
    Case { insn: Insn::Exit, off: 0, bytes: &[0x95, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00], text: "exit" },
];

#[test]
fn encode_decode_show() {
    let maps = vec!["m".to_owned()];
    let mut bad = Vec::new();
    for c in CASES {
        // A jump at slot 0 lands on slot 1 + off; decode names that slot as its label.
        let insn = match c.insn {
            Insn::Jmp { op, dst, src, .. } => Insn::Jmp {
                op,
                dst,
                src,
                target: Label((1 + i64::from(c.off)) as u32),
            },
            Insn::Ja { .. } => Insn::Ja {
                target: Label((1 + i64::from(c.off)) as u32),
            },
            other => other,
        };
        let mut raw = Vec::new();
        insn.encode(c.off, &mut raw);
        let bytes: Vec<u8> = raw.iter().flat_map(|r| r.to_bytes()).collect();
        if bytes != c.bytes {
            bad.push(format!(
                "{:?}: encodes as {bytes:02x?}, want {:02x?}",
                c.insn, c.bytes
            ));
        }
        let parsed = RawInsn::parse(c.bytes).expect("whole slots");
        match decode(&parsed, 0) {
            Ok((back, off)) if back == insn && off == c.off => {}
            other => bad.push(format!(
                "{:02x?} decodes as {other:?}, want {insn:?}",
                c.bytes
            )),
        }
        let text = Show {
            insn: &insn,
            maps: &maps,
            jump: insn.target().map(|_| c.off),
        }
        .to_string();
        if text != c.text {
            bad.push(format!(
                "{:?} prints as {text:?}, want {:?}",
                c.insn, c.text
            ));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// Every `AluOp` and `JmpOp` has a case in both register and immediate form (the table is
/// complete for the forms the compiler emits).
#[test]
fn table_covers_every_operation() {
    let alu = [
        AluOp::Add,
        AluOp::Sub,
        AluOp::Mul,
        AluOp::Div,
        AluOp::Or,
        AluOp::And,
        AluOp::Lsh,
        AluOp::Rsh,
        AluOp::Neg,
        AluOp::Mod,
        AluOp::Xor,
        AluOp::Mov,
        AluOp::Arsh,
        AluOp::SDiv,
        AluOp::SMod,
    ];
    for op in alu {
        for wide in [true, false] {
            let n = CASES
                .iter()
                .filter(|c| match c.insn {
                    Insn::Alu64 { op: o, .. } => wide && o == op,
                    Insn::Alu32 { op: o, .. } => !wide && o == op,
                    _ => false,
                })
                .count();
            let want = if op == AluOp::Neg { 1 } else { 2 };
            assert_eq!(n, want, "{op:?} wide={wide}");
        }
    }
    let jmp = [
        JmpOp::Jeq,
        JmpOp::Jgt,
        JmpOp::Jge,
        JmpOp::Jset,
        JmpOp::Jne,
        JmpOp::Jsgt,
        JmpOp::Jsge,
        JmpOp::Jlt,
        JmpOp::Jle,
        JmpOp::Jslt,
        JmpOp::Jsle,
    ];
    for op in jmp {
        let n = CASES
            .iter()
            .filter(|c| matches!(c.insn, Insn::Jmp { op: o, .. } if o == op))
            .count();
        assert_eq!(n, 2, "{op:?}");
    }
}

/// Forms ljbpf never emits are decode errors, not guesses.
#[test]
fn unknown_forms_are_errors() {
    let cases: &[[u8; 8]] = &[
        [0xd7, 0x01, 0, 0, 0x10, 0, 0, 0],    // ALU64 BSWAP (v4)
        [0xd4, 0x01, 0, 0, 0x10, 0, 0, 0],    // to-little-endian
        [0xbf, 0x12, 0x08, 0, 0, 0, 0, 0],    // MOVSX 8 bits (v4)
        [0x91, 0x21, 0, 0, 0, 0, 0, 0],       // LDX MEMSX (v4)
        [0x16, 0x01, 0x01, 0, 0, 0, 0, 0],    // JMP32
        [0x85, 0x10, 0, 0, 0x01, 0, 0, 0],    // bpf-to-bpf call
        [0x85, 0x00, 0, 0, 0xe7, 0x03, 0, 0], // unknown helper 999
        [0x0f, 0x2b, 0, 0, 0, 0, 0, 0],       // r11
        [0xdb, 0x21, 0x08, 0, 0x01, 0, 0, 0], // atomic fetch-add
    ];
    for c in cases {
        let raw = RawInsn::parse(c).unwrap();
        assert!(decode(&raw, 0).is_err(), "{c:02x?} decodes");
    }
}
