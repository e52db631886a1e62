//! Run-time indexes and run-time packet slices in generated programs (`docs/indexes.md`).
//!
//! Stack arrays (`ffi.new('uint32_t[5]')`, ..., and arrays of `struct ix_rec`) and the arrays
//! in the value of the map `g` (`G.s[i]`, `G.r[i].y`, also with `xadd`) are read and written
//! at indexes computed at run time, in and out of range (negative, huge, int64 and
//! uint64 cdata); packet slices `pkt(a, b)` / `pkt.ip(a, b)` with run-time bounds are compared
//! with strings. LuaJIT leaves an out-of-range cdata index undefined and has no packet, so the
//! reference spells these as calls to the prelude's `ix_get`/`ix_set`/`slice_eq`, which
//! implement the documented rules: out of range, a read gives 0 and a write is dropped; a
//! slice not inside the packet (or empty) ends the program with the kind's default verdict.

use std::fmt::Write as _;

use super::generate::Gen;
use super::*;

/// The record type of record arrays (declared in the probe file and in the reference).
pub(crate) const REC_CDEF: &str =
    "struct ix_rec { uint32_t x; int16_t h; int64_t y; uint64_t z; }; \
     struct ix_val { uint32_t s[5]; int64_t t[3]; struct ix_rec r[2]; };";

/// The size of `struct ix_val`, the value of the map `g` (its one entry is zeroed before each
/// run).
pub const IX_VAL_SIZE: usize = 96;

/// A scalar element (or record field) type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scalar {
    U32,
    I16,
    I64,
    U64,
}

impl Scalar {
    fn c_name(self) -> &'static str {
        match self {
            Scalar::U32 => "uint32_t",
            Scalar::I16 => "int16_t",
            Scalar::I64 => "int64_t",
            Scalar::U64 => "uint64_t",
        }
    }

    /// The type LuaJIT reads it as.
    pub fn ty(self) -> Ty {
        match self {
            Scalar::U32 | Scalar::I16 => Ty::Num,
            Scalar::I64 => Ty::I64,
            Scalar::U64 => Ty::U64,
        }
    }

    /// The largest magnitude of a number read from it.
    fn bound(self) -> u64 {
        match self {
            Scalar::U32 => u64::from(u32::MAX),
            Scalar::I16 => 1 << 15,
            Scalar::I64 | Scalar::U64 => 0,
        }
    }

    /// Its zero as the reference spells it.
    fn zero(self) -> &'static str {
        match self {
            Scalar::U32 | Scalar::I16 => "0",
            Scalar::I64 => "0LL",
            Scalar::U64 => "0ULL",
        }
    }
}

/// The fields of `struct ix_rec`.
const REC_FIELDS: &[(&str, Scalar)] = &[
    ("x", Scalar::U32),
    ("h", Scalar::I16),
    ("y", Scalar::I64),
    ("z", Scalar::U64),
];

/// A stack array of the program.
#[derive(Clone, Debug, PartialEq)]
pub struct Arr {
    pub name: String,
    /// `None`: an array of `struct ix_rec`.
    pub elem: Option<Scalar>,
    pub len: u32,
}

impl Arr {
    fn c_type(&self) -> String {
        let e = self.elem.map_or("struct ix_rec", Scalar::c_name);
        format!("{e}[{}]", self.len)
    }
}

/// One element (or a field of one) of an array.
#[derive(Clone, Debug, PartialEq)]
pub struct Place {
    pub arr: Arr,
    /// The field, for record arrays.
    pub field: Option<&'static str>,
}

impl Place {
    pub fn scalar(&self) -> Scalar {
        match (self.arr.elem, self.field) {
            (Some(s), _) => s,
            (None, f) => REC_FIELDS
                .iter()
                .find(|(n, _)| Some(*n) == f)
                .map_or(Scalar::U32, |(_, s)| *s),
        }
    }
}

/// An expression of this family.
#[derive(Clone, Debug, PartialEq)]
pub enum IxExpr {
    /// `arr[idx]` or `arr[idx].field`.
    Read(Place, Expr),
    /// `d(a, b) == s`, `d` being `pkt` (base 0) or `pkt.ip` (base 14).
    Slice {
        base: u32,
        a: Expr,
        b: Expr,
        s: Vec<u8>,
    },
}

impl IxExpr {
    pub fn ty(&self) -> Ty {
        match self {
            IxExpr::Read(p, _) => p.scalar().ty(),
            IxExpr::Slice { .. } => Ty::Bool,
        }
    }

    pub(crate) fn children(&self) -> Vec<&Expr> {
        match self {
            IxExpr::Read(_, i) => vec![i],
            IxExpr::Slice { a, b, .. } => vec![a, b],
        }
    }

    pub(crate) fn children_mut(&mut self) -> Vec<&mut Expr> {
        match self {
            IxExpr::Read(_, i) => vec![i],
            IxExpr::Slice { a, b, .. } => vec![a, b],
        }
    }

    /// The bound of the value (its operands checked too).
    pub(crate) fn bound(&self, env: &Env) -> Option<u64> {
        for c in self.children() {
            bound(c, env)?;
        }
        Some(match self {
            IxExpr::Read(p, _) => p.scalar().bound(),
            IxExpr::Slice { .. } => 0,
        })
    }

    pub(crate) fn render(&self, reference: bool, s: &mut String) {
        match (self, reference) {
            (IxExpr::Read(p, i), false) => {
                let _ = write!(s, "{}[{}]", p.arr.name, i.text(false));
                if let Some(f) = p.field {
                    let _ = write!(s, ".{f}");
                }
            }
            (IxExpr::Read(p, i), true) => {
                let _ = write!(
                    s,
                    "ix_get({}, {}, {}, {}, {})",
                    p.arr.name,
                    p.arr.len,
                    i.text(true),
                    p.field.map_or("nil".to_owned(), |f| format!("'{f}'")),
                    p.scalar().zero()
                );
            }
            (
                IxExpr::Slice {
                    base,
                    a,
                    b,
                    s: bytes,
                },
                false,
            ) => {
                let d = if *base == 0 { "pkt" } else { "pkt.ip" };
                let _ = write!(
                    s,
                    "({d}({}, {}) == {})",
                    a.text(false),
                    b.text(false),
                    lua_string(bytes)
                );
            }
            (
                IxExpr::Slice {
                    base,
                    a,
                    b,
                    s: bytes,
                },
                true,
            ) => {
                let _ = write!(
                    s,
                    "slice_eq({base}, {}, {}, {})",
                    a.text(true),
                    b.text(true),
                    lua_string(bytes)
                );
            }
        }
    }
}

/// A statement of this family.
#[derive(Clone, Debug, PartialEq)]
pub enum IxStmt {
    /// `local NAME = ffi.new('T[n]')`
    New(Arr),
    /// `arr[idx] = v` or `arr[idx].field = v`
    Write(Place, Expr, Expr),
    /// `local G = g[0]; if not G then return 0 end`: the map value whose arrays are `G.s`,
    /// `G.t`, `G.r`.
    MapValue,
    /// `xadd(arr[idx], v)` on an array in the map value.
    Xadd(Place, Expr, Expr),
}

impl IxStmt {
    pub(crate) fn exprs_mut(&mut self) -> Vec<&mut Expr> {
        match self {
            IxStmt::New(_) | IxStmt::MapValue => vec![],
            IxStmt::Write(_, i, v) | IxStmt::Xadd(_, i, v) => vec![i, v],
        }
    }

    pub(crate) fn size(&self) -> usize {
        match self {
            IxStmt::New(_) | IxStmt::MapValue => 1,
            IxStmt::Write(_, i, v) | IxStmt::Xadd(_, i, v) => 1 + i.size() + v.size(),
        }
    }

    pub(crate) fn bounded(&self, env: &Env) -> bool {
        match self {
            IxStmt::New(_) | IxStmt::MapValue => true,
            IxStmt::Write(_, i, v) | IxStmt::Xadd(_, i, v) => {
                bound(i, env).is_some() && bound(v, env).is_some()
            }
        }
    }

    pub(crate) fn render(&self, reference: bool, indent: usize, s: &mut String) {
        let pad = "";
        match (self, reference) {
            (IxStmt::New(a), _) => {
                let _ = writeln!(
                    s,
                    "{pad:indent$}local {} = ffi.new('{}')",
                    a.name,
                    a.c_type()
                );
            }
            (IxStmt::Write(p, i, v), false) => {
                let field = p.field.map_or(String::new(), |f| format!(".{f}"));
                let _ = writeln!(
                    s,
                    "{pad:indent$}{}[{}]{field} = {}",
                    p.arr.name,
                    i.text(false),
                    v.text(false)
                );
            }
            (IxStmt::MapValue, false) => {
                let _ = writeln!(s, "{pad:indent$}local G = g[0]");
                let _ = writeln!(s, "{pad:indent$}if not G then return 0 end");
            }
            (IxStmt::MapValue, true) => {
                let _ = writeln!(s, "{pad:indent$}local G = GVAL");
            }
            (IxStmt::Xadd(p, i, v), false) => {
                let field = p.field.map_or(String::new(), |f| format!(".{f}"));
                // The increment first: xadd's target must not cross the joins of an `and`/`or`
                // in its own argument list (it would be read as a value there).
                let _ = writeln!(
                    s,
                    "{pad:indent$}do local inc = {}; xadd({}[{}]{field}, inc) end",
                    v.text(false),
                    p.arr.name,
                    i.text(false)
                );
            }
            (IxStmt::Xadd(p, i, v), true) => {
                let _ = writeln!(
                    s,
                    "{pad:indent$}do local inc = {}; ix_xadd({}, {}, {}, {}, inc) end",
                    v.text(true),
                    p.arr.name,
                    p.arr.len,
                    i.text(true),
                    p.field.map_or("nil".to_owned(), |f| format!("'{f}'"))
                );
            }
            (IxStmt::Write(p, i, v), true) => {
                let _ = writeln!(
                    s,
                    "{pad:indent$}ix_set({}, {}, {}, {}, {})",
                    p.arr.name,
                    p.arr.len,
                    i.text(true),
                    p.field.map_or("nil".to_owned(), |f| format!("'{f}'")),
                    v.text(true)
                );
            }
        }
    }
}

/// A Lua string literal of any bytes.
fn lua_string(bytes: &[u8]) -> String {
    let mut s = String::from("'");
    for b in bytes {
        let _ = write!(s, "\\{b:03}");
    }
    s.push('\'');
    s
}

/// The reference's side of the rules (added to the prelude).
pub(crate) const PRELUDE_INDEXES: &str = r#"
ffi = require('ffi')
ffi.cdef[[ struct ix_rec { uint32_t x; int16_t h; int64_t y; uint64_t z; };
  struct ix_val { uint32_t s[5]; int64_t t[3]; struct ix_rec r[2]; }; ]]
-- The value of the map `g`, zeroed before each run.
GVAL = nil
function ix_reset() GVAL = ffi.new('struct ix_val') end
-- Ends the program with the kind's default verdict (a packet read or slice outside the packet).
END = setmetatable({}, { __tostring = function() return 'END' end })
PKT = ''
-- How often each rule applied (generator coverage).
IX = { in_range = 0, out_of_range = 0, slice_equal = 0, slice_unequal = 0, slice_ends = 0 }
local function ix_in(n, i)
  local ok = i >= 0 and i < n
  if ok then IX.in_range = IX.in_range + 1 else IX.out_of_range = IX.out_of_range + 1 end
  return ok
end
function ix_get(arr, n, i, field, zero)
  if not ix_in(n, i) then return zero end
  if field then return arr[i][field] end
  return arr[i]
end
function ix_set(arr, n, i, field, v)
  if not ix_in(n, i) then return end
  if field then arr[i][field] = v else arr[i] = v end
end
function ix_xadd(arr, n, i, field, v)
  if not ix_in(n, i) then return end
  if field then arr[i][field] = arr[i][field] + v else arr[i] = arr[i] + v end
end
function slice_eq(base, a, b, s)
  a = base + a
  b = base + b
  if a < 0 or b <= a or b > #PKT then
    IX.slice_ends = IX.slice_ends + 1
    error(END)
  end
  local eq = b - a == #s and PKT:sub(a + 1, b) == s
  if eq then IX.slice_equal = IX.slice_equal + 1 else IX.slice_unequal = IX.slice_unequal + 1 end
  return eq
end
"#;

/// Strings compared with slices: bytes the generated packet always has (zeros in the MAC
/// addresses and most of the headers, the Ethernet type, IPv4's first byte, TCP's protocol
/// number), and others.
const SLICE_STRINGS: &[&[u8]] = &[
    b"\x00",
    b"\x00\x00",
    b"\x00\x00\x00",
    b"\x00\x00\x00\x00\x00\x00\x00\x00",
    b"\x08\x00",
    b"\x08\x00\x45",
    b"\x45",
    b"\x00\x06",
    b"\x00",
    b"\x00\x00\x00\x00",
    b"\x00\x00\x00\x00\x00\x00\x08",
    b"\x06",
    b"ab",
    b"\x45\x00\x00\x00\x00\x00\x00\x00\x00",
];

impl Gen<'_> {
    /// An index: mostly near the array's range, sometimes negative, huge, or cdata.
    pub(crate) fn ix_index(&mut self, len: u32) -> Expr {
        let n = i64::from(len);
        match self.rng.below(8) {
            0 => Expr::Num(*self.rng.pick(&[0, 1, n - 1, n, n + 1, -1])),
            1 | 2 => Expr::Arith(
                Arith::Mod,
                Box::new(self.nonconst(2)),
                Box::new(Expr::Num(n + *self.rng.pick(&[0, 1, 3]))),
            ),
            3 => Expr::Bit(
                BitFn::Band,
                vec![
                    self.expr(Ty::Num, 1),
                    Expr::Num(*self.rng.pick(&[3, 7, 15])),
                ],
            ),
            4 => Expr::Arith(
                Arith::Sub,
                Box::new(Expr::Arith(
                    Arith::Mod,
                    Box::new(self.nonconst(1)),
                    Box::new(Expr::Num(n + 2)),
                )),
                Box::new(Expr::Num(1)),
            ),
            5 => {
                let ty = *self.rng.pick(&[Ty::I64, Ty::U64]);
                let m = if ty == Ty::I64 {
                    Expr::I64(n + 1)
                } else {
                    Expr::U64((n + 1) as u64)
                };
                let e = self.expr(ty, 1);
                let r = if self.rng.chance(1, 2) {
                    Expr::Arith(Arith::Mod, Box::new(e), Box::new(m))
                } else {
                    e
                };
                if ty == Ty::I64 && self.rng.chance(1, 2) {
                    Expr::Arith(Arith::Sub, Box::new(r), Box::new(Expr::I64(1)))
                } else {
                    r
                }
            }
            _ => self.expr(Ty::Num, 1),
        }
    }

    /// A value to store into a place of type `s`, within what C converts exactly.
    fn ix_value(&mut self, s: Scalar, d: u32) -> Expr {
        match s {
            Scalar::U32 => {
                if self.rng.chance(1, 2) {
                    Expr::Bit(
                        BitFn::Band,
                        vec![self.expr(Ty::Num, d), Expr::Num(0x7fff_ffff)],
                    )
                } else {
                    let ty = *self.rng.pick(&[Ty::I64, Ty::U64]);
                    self.expr(ty, d)
                }
            }
            Scalar::I16 => Expr::Arith(
                Arith::Sub,
                Box::new(Expr::Bit(
                    BitFn::Band,
                    vec![self.expr(Ty::Num, d), Expr::Num(0x7fff)],
                )),
                Box::new(Expr::Num(0x4000)),
            ),
            Scalar::I64 | Scalar::U64 => {
                let ty = *self.rng.pick(&[Ty::Num, Ty::I64, Ty::U64]);
                self.expr(ty, d)
            }
        }
    }

    /// A place in one of the arrays in scope.
    fn ix_place(&mut self) -> Option<Place> {
        if self.arrays.is_empty() {
            return None;
        }
        let arr = self.rng.pick(&self.arrays).clone();
        let field = match arr.elem {
            Some(_) => None,
            None => Some(self.rng.pick(REC_FIELDS).0),
        };
        Some(Place { arr, field })
    }

    /// A read of an array element (of type `ty`), or `None` when no array fits.
    pub(crate) fn ix_read(&mut self, ty: Ty) -> Option<Expr> {
        for _ in 0..4 {
            let p = self.ix_place()?;
            if p.scalar().ty() == ty {
                let i = self.ix_index(p.arr.len);
                return Some(Expr::Ix(Box::new(IxExpr::Read(p, i))));
            }
        }
        None
    }

    /// A slice compared with a string.
    pub(crate) fn ix_slice(&mut self) -> Expr {
        let base = *self.rng.pick(&[0u32, 0, 14]);
        let s = self.rng.pick(SLICE_STRINGS).to_vec();
        let start = match self.rng.below(5) {
            0 | 4 => Expr::Num(self.rng.below(16) as i64),
            1 => Expr::Arith(
                Arith::Mod,
                Box::new(self.nonconst(1)),
                Box::new(Expr::Num(*self.rng.pick(&[16, 40, 80]))),
            ),
            2 => Expr::Bit(BitFn::Band, vec![self.expr(Ty::Num, 1), Expr::Num(15)]),
            _ => self.expr(Ty::Num, 1),
        };
        // Never a constant the compiler could fold (`d % 1` is 0): constant bounds take the
        // constant-slice path, whose packet-edge check is not this family's.
        let start = Expr::Arith(
            Arith::Add,
            Box::new(Expr::Arith(
                Arith::Mod,
                Box::new(Expr::Var("d".to_owned(), Ty::Num)),
                Box::new(Expr::Num(1)),
            )),
            Box::new(start),
        );
        let end = match self.rng.below(4) {
            0 | 1 => Expr::Arith(
                Arith::Add,
                Box::new(start.clone()),
                Box::new(Expr::Num(s.len() as i64)),
            ),
            2 => Expr::Arith(
                Arith::Add,
                Box::new(start.clone()),
                Box::new(Expr::Num(*self.rng.pick(&[-1, 0, 1, 3, 80]))),
            ),
            _ => self.expr(Ty::Num, 1),
        };
        Expr::Ix(Box::new(IxExpr::Slice {
            base,
            a: start,
            b: end,
            s,
        }))
    }

    /// The program's arrays: stack arrays (none in two programs of five), and in half of the
    /// programs the arrays of the map value `G`.
    pub(crate) fn ix_arrays(&mut self) -> Vec<Stmt> {
        let mut out = Vec::new();
        if self.rng.chance(1, 2) {
            for (name, elem, len) in [
                ("G.s", Some(Scalar::U32), 5),
                ("G.t", Some(Scalar::I64), 3),
                ("G.r", None, 2),
            ] {
                self.arrays.push(Arr {
                    name: name.to_owned(),
                    elem,
                    len,
                });
            }
            out.push(Stmt::Ix(IxStmt::MapValue));
        }
        let n = [0, 0, 1, 2, 3][self.rng.below(5)];
        // Within BPF's 512-byte stack, with room for the program's call buffers.
        let mut bytes = 0;
        let stack: Vec<Stmt> = (0..n)
            .map(|_| {
                self.next_var += 1;
                let elem = *self.rng.pick(&[
                    Some(Scalar::U32),
                    Some(Scalar::I64),
                    Some(Scalar::U64),
                    Some(Scalar::I16),
                    None,
                ]);
                let mut len = *self.rng.pick(&[1u32, 3, 5, 8]);
                let size = elem.map_or(24, |s| match s {
                    Scalar::U32 => 4,
                    Scalar::I16 => 2,
                    Scalar::I64 | Scalar::U64 => 8,
                });
                if bytes + size * len > 256 {
                    len = 1;
                }
                bytes += (size * len).next_multiple_of(8);
                let arr = Arr {
                    name: format!("A{}", self.next_var),
                    elem,
                    len,
                };
                self.arrays.push(arr.clone());
                Stmt::Ix(IxStmt::New(arr))
            })
            .collect();
        out.extend(stack);
        out
    }

    /// A write into an element of an array in scope.
    pub(crate) fn ix_write(&mut self, d: u32) -> Stmt {
        let p = self.ix_place().expect("an array in scope");
        let i = self.ix_index(p.arr.len);
        // xadd on 64-bit elements of the map value (what BPF's atomic add and LuaJIT's
        // wrapping cdata addition agree on).
        let wide = matches!(p.scalar(), Scalar::I64 | Scalar::U64);
        if p.arr.name.starts_with("G.") && wide && self.rng.chance(1, 2) {
            let ty = *self.rng.pick(&[Ty::Num, Ty::I64, Ty::U64]);
            let v = self.expr(ty, d);
            return Stmt::Ix(IxStmt::Xadd(p, i, v));
        }
        let v = self.ix_value(p.scalar(), d);
        Stmt::Ix(IxStmt::Write(p, i, v))
    }
}

/// How often the reference applied each rule (`IX` in [`PRELUDE_INDEXES`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct IxCounts {
    pub in_range: u64,
    pub out_of_range: u64,
    pub slice_equal: u64,
    pub slice_unequal: u64,
    pub slice_ends: u64,
}

impl Reference {
    /// The counts of the rules applied so far.
    pub fn ix_counts(&self) -> IxCounts {
        let get = |name: &str| -> u64 {
            let t: mlua::Table = self.lua().globals().get("IX").expect("IX");
            t.get::<f64>(name).map_or(0, |n| n as u64)
        };
        IxCounts {
            in_range: get("in_range"),
            out_of_range: get("out_of_range"),
            slice_equal: get("slice_equal"),
            slice_unequal: get("slice_unequal"),
            slice_ends: get("slice_ends"),
        }
    }
}
