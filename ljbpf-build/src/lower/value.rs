//! What a Lua slot holds during lowering.

use crate::ctype::CType;
use crate::lua::decode::Const;

use super::packet::Hdr;
use crate::mir::VReg;

/// The LuaJIT type of a run-time scalar (DESIGN.md, Semantics).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ty {
    /// A Lua number: computed as a signed 64-bit integer, compared signed.
    Num,
    /// `int64_t` cdata: wraps modulo 2^64, compared signed.
    I64,
    /// `uint64_t` cdata: wraps modulo 2^64, compared unsigned; wins in mixed operations.
    U64,
    /// A boolean: 0 or 1.
    Bool,
}

impl Ty {
    /// The result type of arithmetic on `a` and `b` (LuaJIT's cdata arithmetic rules).
    pub fn arith(a: Ty, b: Ty) -> Ty {
        match (a, b) {
            (Ty::U64, _) | (_, Ty::U64) => Ty::U64,
            (Ty::I64, _) | (_, Ty::I64) => Ty::I64,
            _ => Ty::Num,
        }
    }

    /// How LuaJIT names the type.
    pub fn name(self) -> &'static str {
        match self {
            Ty::Num => "number",
            Ty::I64 => "int64_t cdata",
            Ty::U64 => "uint64_t cdata",
            Ty::Bool => "boolean",
        }
    }
}

/// Built-in functions callable in program functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Builtin {
    Xadd,
    Time,
    Cpu,
    PidTgid,
    UidGid,
    Comm,
    Rand,
    Ntoh,
    Hton,
    BitBand,
    BitBor,
    BitBxor,
    BitBnot,
    BitLshift,
    BitRshift,
    BitArshift,
    BitTobit,
    FfiNew,
    FfiSizeof,
    FfiCast,
    FfiCopy,
    MathLog2,
    MathLog10,
    MathLog,
    LoadBytes,
    PerfSubmit,
    RingbufOutput,
    StackId,
    Print,
    Redirect,
    RedirectMap,
}

impl Builtin {
    /// The name a user writes.
    pub fn name(self) -> &'static str {
        match self {
            Builtin::Xadd => "xadd",
            Builtin::Time => "time",
            Builtin::Cpu => "cpu",
            Builtin::PidTgid => "pid_tgid",
            Builtin::UidGid => "uid_gid",
            Builtin::Comm => "comm",
            Builtin::Rand => "rand",
            Builtin::Ntoh => "ntoh",
            Builtin::Hton => "hton",
            Builtin::BitBand => "bit.band",
            Builtin::BitBor => "bit.bor",
            Builtin::BitBxor => "bit.bxor",
            Builtin::BitBnot => "bit.bnot",
            Builtin::BitLshift => "bit.lshift",
            Builtin::BitRshift => "bit.rshift",
            Builtin::BitArshift => "bit.arshift",
            Builtin::BitTobit => "bit.tobit",
            Builtin::FfiNew => "ffi.new",
            Builtin::FfiSizeof => "ffi.sizeof",
            Builtin::FfiCast => "ffi.cast",
            Builtin::FfiCopy => "ffi.copy",
            Builtin::MathLog2 => "math.log2",
            Builtin::MathLog10 => "math.log10",
            Builtin::MathLog => "math.log",
            Builtin::LoadBytes => "load_bytes",
            Builtin::PerfSubmit => "perf_submit",
            Builtin::RingbufOutput => "ringbuf_output",
            Builtin::StackId => "stack_id",
            Builtin::Print => "print",
            Builtin::Redirect => "redirect",
            Builtin::RedirectMap => "redirect_map",
        }
    }
}

/// Where a lazily read field lives.
#[derive(Clone, Debug, PartialEq)]
pub enum Base {
    /// The program context (R6).
    Ctx,
    /// A stack object at `r10 - offset`.
    Stack(i32),
    /// A non-null map value pointer in a register.
    Map(VReg),
    /// An element at a run-time index: it exists only while the index is in range, which every
    /// read and write through it checks (`index.rs`).
    Elem(Box<Elem>),
    /// An element at a run-time index after a join: its address in a register, or 0 when the
    /// index was out of range (an [`Elem`] needs two registers, a slot carries one).
    Checked(VReg),
}

/// Element `idx` of an array of `len` elements, `stride` bytes each, that starts `at` bytes into
/// `of`.
#[derive(Clone, Debug, PartialEq)]
pub struct Elem {
    /// Where the array lives.
    pub of: Base,
    /// The array's offset in `of`.
    pub at: i32,
    /// The index, as LuaJIT converts it: a 64-bit integer (negative ones are out of range).
    pub idx: VReg,
    /// The element count.
    pub len: u32,
    /// The element size.
    pub stride: u32,
}

impl Base {
    /// The memory the place is in, under any run-time indexes (a checked address stands for
    /// itself: stack or map memory, never the context).
    pub fn root(&self) -> &Base {
        match self {
            Base::Elem(e) => e.of.root(),
            other => other,
        }
    }

    /// Whether an access checks the place first (an element at a run-time index).
    pub fn checked(&self) -> bool {
        matches!(self, Base::Elem(_) | Base::Checked(_))
    }
}

/// The value of a Lua slot.
#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    /// Never written on some path, or written with types that cannot be merged.
    Undef(&'static str),
    /// A compile-time value.
    K(Const),
    /// A built-in function.
    Fn(Builtin),
    /// A run-time scalar in a register; `width` is the byte width of the field it was read
    /// from (for `ntoh`), 0 if unknown.
    Rt { v: VReg, ty: Ty, width: u8 },
    /// A pointer to a map value (the result of a lookup); 0 is `nil`.
    MapPtr {
        v: VReg,
        map: u32,
        ty: CType,
        nullable: bool,
    },
    /// The program context.
    Ctx,
    /// A stack object made by `ffi.new`.
    Stack { off: i32, ty: CType },
    /// A field or element not read yet: read when used as a value, written by stores,
    /// referenced by `xadd`/`comm`.
    Ref { base: Base, off: i32, ty: CType },
    /// `len` packet bytes at `off` (+ `dynoff`): `d(a, b)`. Compares bytewise with a string;
    /// used as a number when `len` is 1, 2, 4 or 8 (network order).
    Slice {
        off: i32,
        dynoff: Option<VReg>,
        len: u32,
    },
    /// `d(a, b)` with a bound known only at run time: packet bytes `off + start` up to (not
    /// including) `off + end`. Compares with strings only (`index.rs`).
    RtSlice { off: i32, start: VReg, end: VReg },
    /// A pointer made by `ffi.cast('T *', x)`: memory read through it with the probe-read
    /// helpers (kernel memory, or user memory in uprobes).
    Ptr { v: VReg, pointee: CType },
    /// A `__data_loc`/`__rel_loc` tracepoint field at `off`: read as a number it is the raw
    /// u32 (length << 16 | offset); `ffi.copy(buf, field)` copies the data it locates.
    DataLoc { off: i32, rel: bool, is_char: bool },
    /// A packet dissector positioned at `off` (+ `dynoff` if run-time) bytes.
    Pkt {
        hdr: Hdr,
        off: i32,
        dynoff: Option<VReg>,
    },
}

impl Val {
    /// How the value reads in an error message.
    pub fn describe(&self) -> String {
        match self {
            Val::Undef(why) => format!("an undefined value ({why})"),
            Val::K(c) => c.describe(),
            Val::Fn(b) => format!("the function {}", b.name()),
            Val::Rt { ty, .. } => crate::lua::load::with_article(ty.name()),
            Val::MapPtr { ty, nullable, .. } => format!(
                "a {}map value of type {}",
                if *nullable { "possibly nil " } else { "" },
                ty.c_name()
            ),
            Val::Ctx => "the program context".into(),
            Val::Stack { ty, .. } => format!("a stack object of type {}", ty.c_name()),
            Val::Ref { ty, .. } => format!("a field of type {}", ty.c_name()),
            Val::Pkt { hdr, .. } => format!("the {} dissector", hdr.name()),
            Val::Slice { len, .. } => format!("a {len}-byte packet slice"),
            Val::RtSlice { .. } => "a packet slice with run-time bounds".into(),
            Val::Ptr { pointee, .. } => format!("a pointer to {}", pointee.c_name()),
            Val::DataLoc { .. } => "a __data_loc field".into(),
        }
    }
}
