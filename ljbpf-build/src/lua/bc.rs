//! LuaJIT bytecode: the opcode table and instruction fields.
//!
//! Mirrors `lj_bc.h` of LuaJIT 2.1.1788856981 (luajit-src 210.7.4), which has native bit
//! operators BNOT..BSAR at 89..95, shifting FUNCF and later. Opcode names are not available at
//! run time (`jit.vmdef` is not embedded), so this table is ours; `LUAJIT_VERSION` is checked when
//! the builder starts and a test compares decoding with `jit.util.funcbc` on a corpus.

/// The LuaJIT version this table mirrors (`jit.version`).
pub const LUAJIT_VERSION: &str = "LuaJIT 2.1.1788856981";

macro_rules! opcodes {
    ($($name:ident,)*) => {
        /// A LuaJIT bytecode opcode.
        #[allow(clippy::upper_case_acronyms, missing_docs)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum Op { $($name,)* }

        const OPS: &[Op] = &[$(Op::$name,)*];
        const NAMES: &[&str] = &[$(stringify!($name),)*];
    };
}

opcodes! {
    ISLT, ISGE, ISLE, ISGT, ISEQV, ISNEV, ISEQS, ISNES, ISEQN, ISNEN, ISEQP, ISNEP,
    ISTC, ISFC, IST, ISF, ISTYPE, ISNUM,
    MOV, NOT, UNM, LEN,
    ADDVN, SUBVN, MULVN, DIVVN, MODVN,
    ADDNV, SUBNV, MULNV, DIVNV, MODNV,
    ADDVV, SUBVV, MULVV, DIVVV, MODVV,
    POW, CAT,
    KSTR, KCDATA, KSHORT, KNUM, KPRI, KNIL,
    UGET, USETV, USETS, USETN, USETP, UCLO, FNEW,
    TNEW, TDUP, GGET, GSET, TGETV, TGETS, TGETB, TGETR, TSETV, TSETS, TSETB, TSETM, TSETR,
    CALLM, CALL, CALLMT, CALLT, ITERC, ITERN, VARG, ISNEXT,
    RETM, RET, RET0, RET1,
    FORI, JFORI, FORL, IFORL, JFORL, ITERL, IITERL, JITERL, LOOP, ILOOP, JLOOP,
    JMP,
    BNOT, BAND, BOR, BXOR, BSHL, BSHR, BSAR,
    FUNCF, IFUNCF, JFUNCF, FUNCV, IFUNCV, JFUNCV, FUNCC, FUNCCW,
}

impl Op {
    /// The opcode for a byte, if there is one.
    pub fn from_u8(b: u8) -> Option<Op> {
        OPS.get(b as usize).copied()
    }

    /// LuaJIT's name for it.
    pub fn name(self) -> &'static str {
        NAMES[self as usize]
    }

    /// Whether operand D is a jump (biased by 0x8000, relative to the next instruction).
    pub fn has_jump(self) -> bool {
        matches!(
            self,
            Op::JMP
                | Op::UCLO
                | Op::ISNEXT
                | Op::FORI
                | Op::JFORI
                | Op::FORL
                | Op::IFORL
                | Op::ITERL
                | Op::IITERL
                | Op::LOOP
                | Op::ILOOP
        )
    }

    /// Whether operand A is the slot the instruction writes (lj_bc.h's `dst` mode; KNIL and
    /// the calls write a range starting at A, see [`Ins::written_slots`]).
    pub fn writes_a(self) -> bool {
        match self {
            Op::MOV
            | Op::NOT
            | Op::UNM
            | Op::LEN
            | Op::ADDVN
            | Op::SUBVN
            | Op::MULVN
            | Op::DIVVN
            | Op::MODVN
            | Op::ADDNV
            | Op::SUBNV
            | Op::MULNV
            | Op::DIVNV
            | Op::MODNV
            | Op::ADDVV
            | Op::SUBVV
            | Op::MULVV
            | Op::DIVVV
            | Op::MODVV
            | Op::POW
            | Op::CAT
            | Op::KSTR
            | Op::KCDATA
            | Op::KSHORT
            | Op::KNUM
            | Op::KPRI
            | Op::UGET
            | Op::FNEW
            | Op::TNEW
            | Op::TDUP
            | Op::GGET
            | Op::TGETV
            | Op::TGETS
            | Op::TGETB
            | Op::TGETR
            | Op::BNOT
            | Op::BAND
            | Op::BOR
            | Op::BXOR
            | Op::BSHL
            | Op::BSHR
            | Op::BSAR => true,
            Op::ISLT
            | Op::ISGE
            | Op::ISLE
            | Op::ISGT
            | Op::ISEQV
            | Op::ISNEV
            | Op::ISEQS
            | Op::ISNES
            | Op::ISEQN
            | Op::ISNEN
            | Op::ISEQP
            | Op::ISNEP
            | Op::ISTC
            | Op::ISFC
            | Op::IST
            | Op::ISF
            | Op::ISTYPE
            | Op::ISNUM
            | Op::KNIL
            | Op::USETV
            | Op::USETS
            | Op::USETN
            | Op::USETP
            | Op::UCLO
            | Op::GSET
            | Op::TSETV
            | Op::TSETS
            | Op::TSETB
            | Op::TSETM
            | Op::TSETR
            | Op::CALLM
            | Op::CALL
            | Op::CALLMT
            | Op::CALLT
            | Op::ITERC
            | Op::ITERN
            | Op::VARG
            | Op::ISNEXT
            | Op::RETM
            | Op::RET
            | Op::RET0
            | Op::RET1
            | Op::FORI
            | Op::JFORI
            | Op::FORL
            | Op::IFORL
            | Op::JFORL
            | Op::ITERL
            | Op::IITERL
            | Op::JITERL
            | Op::LOOP
            | Op::ILOOP
            | Op::JLOOP
            | Op::JMP
            | Op::FUNCF
            | Op::IFUNCF
            | Op::JFUNCF
            | Op::FUNCV
            | Op::IFUNCV
            | Op::JFUNCV
            | Op::FUNCC
            | Op::FUNCCW => false,
        }
    }

    /// Comparisons and tests are always followed by a JMP taken when the condition holds.
    pub fn is_cond(self) -> bool {
        (self as u8) <= (Op::ISF as u8)
    }
}

/// One decoded instruction: `OP A D` or `OP A B C` (B = D >> 8, C = D & 0xff).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ins {
    /// Opcode.
    pub op: Op,
    /// Operand A.
    pub a: u8,
    /// Operand B.
    pub b: u8,
    /// Operand C.
    pub c: u8,
    /// Operand D.
    pub d: u16,
}

impl Ins {
    /// Decodes a 32-bit instruction word.
    pub fn decode(word: u32) -> Option<Ins> {
        Some(Ins {
            op: Op::from_u8((word & 0xff) as u8)?,
            a: ((word >> 8) & 0xff) as u8,
            c: ((word >> 16) & 0xff) as u8,
            b: (word >> 24) as u8,
            d: (word >> 16) as u16,
        })
    }

    /// The slots this instruction writes, when it completes normally: A for `dst` opcodes,
    /// A..=D for KNIL, the B-1 results from A of a CALL or VARG (B = 0: results up to the top,
    /// none known here).
    pub fn written_slots(&self) -> std::ops::Range<usize> {
        let a = self.a as usize;
        match self.op {
            Op::KNIL => a..(self.d as usize + 1).max(a),
            Op::CALL | Op::VARG if self.b >= 2 => a..a + self.b as usize - 1,
            op if op.writes_a() => a..a + 1,
            _ => a..a,
        }
    }

    /// The jump target of an instruction at `pc` whose D is a jump.
    pub fn jump_target(&self, pc: usize) -> isize {
        pc as isize + 1 + (self.d as isize - 0x8000)
    }

    /// D as a signed 16-bit literal (KSHORT).
    pub fn d_signed(&self) -> i16 {
        self.d as i16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_positions_match_lj_bc_h() {
        assert_eq!(Op::ISLT as u8, 0);
        assert_eq!(Op::MOV as u8, 18);
        assert_eq!(Op::KSTR as u8, 39);
        assert_eq!(Op::CALL as u8, 66);
        assert_eq!(Op::RET1 as u8, 76);
        assert_eq!(Op::JMP as u8, 88);
        assert_eq!(Op::BNOT as u8, 89);
        assert_eq!(Op::BSAR as u8, 95);
        assert_eq!(Op::FUNCF as u8, 96);
        assert_eq!(Op::FUNCCW as u8, 103);
        assert_eq!(Op::from_u8(104), None);
        assert_eq!(Op::KSHORT.name(), "KSHORT");
    }
}
