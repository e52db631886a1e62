//! Random probe programs for differential testing (LuaJIT vs the kernel) and probe files for
//! robustness fuzzing, all deterministic from a seed.
//!
//! # Differential testing
//!
//! [`Program::generate`] builds a random socket-filter body in the supported subset: locals,
//! integer arithmetic on numbers and on int64/uint64 cdata (wrap-around), `/` and `%` (also by
//! zero), `bit.*` and the native bit operators, comparisons, nested `if`/`elseif`/`else`,
//! `and`/`or` as values, `not`, reads and writes of two array maps. Its inputs come from the
//! packet:
//!
//! | name | Lua type     | read in the probe as                            |
//! |------|--------------|-------------------------------------------------|
//! | `a`  | number       | `ntoh(pkt.ip.src) - 0x80000000` (signed 32-bit) |
//! | `b`  | number       | `ntoh(pkt.ip.dst) - 0x80000000` (signed 32-bit) |
//! | `c`  | number       | `ntoh(pkt.ip.tcp.seq_num)` (unsigned 32-bit)    |
//! | `d`  | number       | `pkt.ip.ttl` (8-bit)                            |
//! | `x`  | uint64 cdata | `ntoh(pkt.ip6.dst_lo)` (a 64-bit field)         |
//! | `i`  | int64 cdata  | `a * 0x100000000LL + c`                         |
//! | `j`  | int64 cdata  | `b * 1LL`                                       |
//!
//! and from the maps `m` (`uint64_t[8]`) and `w` (`uint32_t[8]`), which the test sets before each
//! run. Outputs are the return value (its low 32 bits, as the kernel reports it), one `out` slot
//! (`uint64_t`) per output statement, and the contents of `m` and `w` after the run.
//!
//! The reference runs the same text in LuaJIT (the vendored one the compiler uses, JIT off), with
//! `m`/`w` as ffi arrays behind a proxy that gives `nil` for absent keys. The only rewriting is
//! DESIGN.md's documented deviations: `p / q` becomes `idiv(p, q)` (numbers truncate toward
//! zero; `x / 0` is 0) and `p % q` becomes `imod(p, q)` (`x % 0` is `x`; otherwise LuaJIT's own
//! `%`: floored for numbers, C's remainder for int64, unsigned for uint64).
//!
//! Numbers are doubles in LuaJIT and 64-bit integers in the probe; they agree while exact. The
//! generator bounds every number-valued subexpression by [`NUM_MAX`] = 2^51 (so that LuaJIT's
//! `%` (`a - floor(a/b)*b`) and its bit-op conversion (`tobit`) are exact too) and the reference
//! checks that no result is a fraction or beyond 2^53.
//!
//! # Robustness fuzzing
//!
//! [`fuzz_source`] makes a probe file: a generated valid one, a broken declaration, odd types,
//! a huge function, or a byte-level mutation of a corpus file. [`fuzz_one`] compiles it and, when
//! it compiles, loads it into the verifier.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use ljbpf_runtime::aya::maps::Array;
use mlua::{Function, Lua, Table};

/// A small deterministic RNG (xorshift64*).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // splitmix64 of the seed, so that nearby seeds give unrelated streams; never 0.
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((z ^ (z >> 31)) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `num/den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.next_u64() % den < num
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Every number-valued subexpression stays within ±NUM_MAX.
pub const NUM_MAX: u64 = 1 << 51;

/// Slots of the `out` map each program may write.
pub const OUT_SLOTS: usize = 12;

/// Entries of the maps `m` and `w`.
pub const MAP_LEN: usize = 8;

/// The static type of a value, as LuaJIT types it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Ty {
    /// A Lua number (an integer here).
    Num,
    /// `int64_t` cdata.
    I64,
    /// `uint64_t` cdata.
    U64,
    Bool,
}

impl Ty {
    /// The type of LuaJIT arithmetic on two operands: uint64 wins, then int64.
    fn arith(l: Ty, r: Ty) -> Ty {
        if l == Ty::U64 || r == Ty::U64 {
            Ty::U64
        } else if l == Ty::I64 || r == Ty::I64 {
            Ty::I64
        } else {
            Ty::Num
        }
    }

    /// The tag the reference's `repr` gives values of this type.
    fn tag(self) -> char {
        match self {
            Ty::Num => 'N',
            Ty::I64 => 'I',
            Ty::U64 => 'U',
            Ty::Bool => 'B',
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arith {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

/// The `bit` library functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BitFn {
    Band,
    Bor,
    Bxor,
    Bnot,
    Lshift,
    Rshift,
    Arshift,
    Tobit,
}

impl BitFn {
    fn name(self) -> &'static str {
        match self {
            BitFn::Band => "band",
            BitFn::Bor => "bor",
            BitFn::Bxor => "bxor",
            BitFn::Bnot => "bnot",
            BitFn::Lshift => "lshift",
            BitFn::Rshift => "rshift",
            BitFn::Arshift => "arshift",
            BitFn::Tobit => "tobit",
        }
    }

    fn is_shift(self) -> bool {
        matches!(self, BitFn::Lshift | BitFn::Rshift | BitFn::Arshift)
    }
}

/// The native bit operators of this LuaJIT (`&`, `|`, `~`, `<<`, `>>`, `~>>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NativeOp {
    And,
    Or,
    Xor,
    Shl,
    Shr,
    Sar,
}

impl NativeOp {
    fn text(self) -> &'static str {
        match self {
            NativeOp::And => "&",
            NativeOp::Or => "|",
            NativeOp::Xor => "~",
            NativeOp::Shl => "<<",
            NativeOp::Shr => ">>",
            NativeOp::Sar => "~>>",
        }
    }

    fn is_shift(self) -> bool {
        matches!(self, NativeOp::Shl | NativeOp::Shr | NativeOp::Sar)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl Cmp {
    fn text(self) -> &'static str {
        match self {
            Cmp::Lt => "<",
            Cmp::Le => "<=",
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
            Cmp::Eq => "==",
            Cmp::Ne => "~=",
        }
    }
}

/// An expression. Every compound is printed in parentheses, so precedence never matters.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Var(String, Ty),
    /// A number literal.
    Num(i64),
    /// An `LL` literal.
    I64(i64),
    /// A `ULL` literal.
    U64(u64),
    Arith(Arith, Box<Expr>, Box<Expr>),
    Neg(Box<Expr>),
    Bit(BitFn, Vec<Expr>),
    Native(NativeOp, Box<Expr>, Box<Expr>),
    /// Unary `~`.
    NativeNot(Box<Expr>),
    Cmp(Cmp, Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    /// `(c and t or e)` with `t` never false.
    Cond(Box<Expr>, Box<Expr>, Box<Expr>),
}

impl Expr {
    /// The type LuaJIT gives this expression.
    pub fn ty(&self) -> Ty {
        match self {
            Expr::Var(_, t) => *t,
            Expr::Num(_) => Ty::Num,
            Expr::I64(_) => Ty::I64,
            Expr::U64(_) => Ty::U64,
            Expr::Arith(_, l, r) => Ty::arith(l.ty(), r.ty()),
            Expr::Neg(e) | Expr::NativeNot(e) => e.ty(),
            Expr::Bit(f, args) => {
                if f.is_shift() {
                    // The shifted value decides; the count is taken modulo the width.
                    args[0].ty()
                } else {
                    args.iter().fold(Ty::Num, |t, a| Ty::arith(t, a.ty()))
                }
            }
            Expr::Native(op, l, r) => {
                if op.is_shift() {
                    l.ty()
                } else {
                    Ty::arith(l.ty(), r.ty())
                }
            }
            Expr::Cmp(..) | Expr::Not(_) => Ty::Bool,
            Expr::And(l, r) => {
                if l.ty() == Ty::Bool {
                    Ty::Bool
                } else {
                    r.ty()
                }
            }
            Expr::Or(l, _) => l.ty(),
            Expr::Cond(_, t, _) => t.ty(),
        }
    }

    /// Direct subexpressions.
    fn children(&self) -> Vec<&Expr> {
        match self {
            Expr::Var(..) | Expr::Num(_) | Expr::I64(_) | Expr::U64(_) => vec![],
            Expr::Neg(e) | Expr::NativeNot(e) | Expr::Not(e) => vec![e],
            Expr::Bit(_, args) => args.iter().collect(),
            Expr::Arith(_, l, r)
            | Expr::Native(_, l, r)
            | Expr::Cmp(_, l, r)
            | Expr::And(l, r)
            | Expr::Or(l, r) => vec![l, r],
            Expr::Cond(c, t, e) => vec![c, t, e],
        }
    }

    fn children_mut(&mut self) -> Vec<&mut Expr> {
        match self {
            Expr::Var(..) | Expr::Num(_) | Expr::I64(_) | Expr::U64(_) => vec![],
            Expr::Neg(e) | Expr::NativeNot(e) | Expr::Not(e) => vec![e],
            Expr::Bit(_, args) => args.iter_mut().collect(),
            Expr::Arith(_, l, r)
            | Expr::Native(_, l, r)
            | Expr::Cmp(_, l, r)
            | Expr::And(l, r)
            | Expr::Or(l, r) => vec![l, r],
            Expr::Cond(c, t, e) => vec![c, t, e],
        }
    }

    fn size(&self) -> usize {
        1 + self.children().iter().map(|c| c.size()).sum::<usize>()
    }

    /// Lua text; `reference` spells `/` and `%` as `idiv`/`imod`.
    fn render(&self, reference: bool, s: &mut String) {
        match self {
            Expr::Var(name, _) => s.push_str(name),
            Expr::Num(n) if *n < 0 => {
                let _ = write!(s, "(-{})", n.unsigned_abs());
            }
            Expr::Num(n) => {
                let _ = write!(s, "{n}");
            }
            Expr::I64(n) if *n < 0 => {
                let _ = write!(s, "(-{}LL)", n.unsigned_abs());
            }
            Expr::I64(n) => {
                let _ = write!(s, "{n}LL");
            }
            Expr::U64(n) => {
                let _ = write!(s, "{n:#x}ULL");
            }
            Expr::Arith(op, l, r) => {
                let call = match (reference, op) {
                    (true, Arith::Div) => Some("idiv"),
                    (true, Arith::Mod) => Some("imod"),
                    _ => None,
                };
                if let Some(f) = call {
                    s.push_str(f);
                    s.push('(');
                    l.render(reference, s);
                    s.push_str(", ");
                    r.render(reference, s);
                    s.push(')');
                } else {
                    let t = match op {
                        Arith::Add => "+",
                        Arith::Sub => "-",
                        Arith::Mul => "*",
                        Arith::Div => "/",
                        Arith::Mod => "%",
                    };
                    binary(s, reference, l, t, r);
                }
            }
            Expr::Neg(e) => {
                s.push_str("(-");
                e.render(reference, s);
                s.push(')');
            }
            Expr::Bit(f, args) => {
                let _ = write!(s, "bit.{}(", f.name());
                for (n, a) in args.iter().enumerate() {
                    if n > 0 {
                        s.push_str(", ");
                    }
                    a.render(reference, s);
                }
                s.push(')');
            }
            Expr::Native(op, l, r) => binary(s, reference, l, op.text(), r),
            Expr::NativeNot(e) => {
                s.push_str("(~");
                e.render(reference, s);
                s.push(')');
            }
            Expr::Cmp(op, l, r) => binary(s, reference, l, op.text(), r),
            Expr::Not(e) => {
                s.push_str("(not ");
                e.render(reference, s);
                s.push(')');
            }
            Expr::And(l, r) => binary(s, reference, l, "and", r),
            Expr::Or(l, r) => binary(s, reference, l, "or", r),
            Expr::Cond(c, t, e) => {
                s.push('(');
                c.render(reference, s);
                s.push_str(" and ");
                t.render(reference, s);
                s.push_str(" or ");
                e.render(reference, s);
                s.push(')');
            }
        }
    }

    pub fn text(&self, reference: bool) -> String {
        let mut s = String::new();
        self.render(reference, &mut s);
        s
    }
}

fn binary(s: &mut String, reference: bool, l: &Expr, op: &str, r: &Expr) {
    s.push('(');
    l.render(reference, s);
    let _ = write!(s, " {op} ");
    r.render(reference, s);
    s.push(')');
}

/// Which array map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapName {
    /// `m`: `uint64_t` values.
    M,
    /// `w`: `uint32_t` values.
    W,
}

impl MapName {
    fn name(self) -> &'static str {
        match self {
            MapName::M => "m",
            MapName::W => "w",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Stmt {
    Local(String, Expr),
    Assign(String, Expr),
    /// `if c then .. elseif c then .. else .. end`
    If(Vec<(Expr, Vec<Stmt>)>, Option<Vec<Stmt>>),
    /// `out[slot] = e`
    Out(usize, Expr),
    /// `map[key] = value`
    MapWrite(MapName, Expr, Expr),
    /// `local var = default; local r = map[key]; if r then var = r + add end`
    MapRead {
        var: String,
        map: MapName,
        key: Expr,
        default: Expr,
        add: Expr,
    },
}

/// One program function.
#[derive(Clone, Debug, PartialEq)]
pub struct Program {
    pub body: Vec<Stmt>,
    pub ret: Expr,
}

/// Inputs of every program: (name, type, bound of a number, probe text).
const INPUTS: &[(&str, Ty, u64, &str)] = &[
    ("a", Ty::Num, 1 << 31, "ntoh(pkt.ip.src) - 0x80000000"),
    ("b", Ty::Num, 1 << 31, "ntoh(pkt.ip.dst) - 0x80000000"),
    ("c", Ty::Num, (1 << 32) - 1, "ntoh(pkt.ip.tcp.seq_num)"),
    ("d", Ty::Num, 255, "pkt.ip.ttl"),
    ("x", Ty::U64, 0, "ntoh(pkt.ip6.dst_lo)"),
    ("i", Ty::I64, 0, "a * 0x100000000LL + c"),
    ("j", Ty::I64, 0, "b * 1LL"),
];

/// Bounds of number-valued variables.
type Env = BTreeMap<String, u64>;

fn input_env() -> Env {
    INPUTS
        .iter()
        .filter(|i| i.1 == Ty::Num)
        .map(|i| (i.0.to_owned(), i.2))
        .collect()
}

/// The largest magnitude a number-valued expression can have, or `None` when some number
/// subexpression may leave ±[`NUM_MAX`]. Cdata and booleans have bound 0.
pub fn bound(e: &Expr, env: &Env) -> Option<u64> {
    let b = match e {
        Expr::Var(name, Ty::Num) => *env.get(name)?,
        Expr::Var(..) | Expr::I64(_) | Expr::U64(_) => 0,
        Expr::Num(n) => n.unsigned_abs(),
        Expr::Arith(op, l, r) => {
            let (bl, br) = (bound(l, env)?, bound(r, env)?);
            if matches!(op, Arith::Div | Arith::Mod) && is_const(l) && is_const(r) {
                // LuaJIT's parser folds constant operands into a fraction (or NaN, ±inf),
                // which the compiler rightly refuses as a non-integer number.
                return None;
            }
            if e.ty() != Ty::Num {
                0
            } else {
                match op {
                    Arith::Add | Arith::Sub => bl.checked_add(br)?,
                    Arith::Mul => bl.checked_mul(br)?,
                    // |trunc(p/q)| <= |p|, and p/0 = 0.
                    Arith::Div => bl,
                    // Floored: |p % q| < |q|; p % 0 = p.
                    Arith::Mod => bl.max(br),
                }
            }
        }
        Expr::Neg(x) => bound(x, env)?,
        Expr::Bit(_, args) => {
            for a in args {
                bound(a, env)?;
            }
            if e.ty() == Ty::Num {
                1 << 31
            } else {
                0
            }
        }
        Expr::Native(_, l, r) => {
            bound(l, env)?;
            bound(r, env)?;
            if e.ty() == Ty::Num {
                1 << 31
            } else {
                0
            }
        }
        Expr::NativeNot(x) => {
            bound(x, env)?;
            if e.ty() == Ty::Num {
                1 << 31
            } else {
                0
            }
        }
        Expr::Cmp(_, l, r) => {
            bound(l, env)?;
            bound(r, env)?;
            0
        }
        Expr::Not(x) => {
            bound(x, env)?;
            0
        }
        Expr::And(l, r) => {
            bound(l, env)?;
            bound(r, env)?
        }
        Expr::Or(l, r) => bound(l, env)?.max(bound(r, env)?),
        Expr::Cond(c, t, f) => {
            bound(c, env)?;
            bound(t, env)?.max(bound(f, env)?)
        }
    };
    (b <= NUM_MAX).then_some(b)
}

/// Whether LuaJIT's parser folds `e` to a number constant.
fn is_const(e: &Expr) -> bool {
    match e {
        Expr::Num(_) => true,
        Expr::Var(..) | Expr::Bit(..) | Expr::I64(_) | Expr::U64(_) => false,
        // Cdata literals are not folded; conservatively, everything else without a variable
        // or a call may be (`63 and 8` is folded to 8).
        e => e.children().iter().all(|c| is_const(c)),
    }
}

/// Bound analysis of a whole statement list (no loops: one forward pass where an assignment
/// only raises a variable's bound is sound). Returns false when some number may be inexact.
fn stmts_bounded(stmts: &[Stmt], env: &mut Env) -> bool {
    for s in stmts {
        match s {
            Stmt::Local(name, e) | Stmt::Assign(name, e) => {
                let Some(b) = bound(e, env) else {
                    return false;
                };
                if e.ty() == Ty::Num {
                    // Names are unique, so a local never shadows another; either way the
                    // bound only grows.
                    let slot = env.entry(name.clone()).or_insert(0);
                    *slot = (*slot).max(b);
                }
            }
            Stmt::If(arms, els) => {
                for (c, body) in arms {
                    if bound(c, env).is_none() || !stmts_bounded(body, env) {
                        return false;
                    }
                }
                if let Some(body) = els {
                    if !stmts_bounded(body, env) {
                        return false;
                    }
                }
            }
            Stmt::Out(_, e) => {
                if bound(e, env).is_none() {
                    return false;
                }
            }
            Stmt::MapWrite(_, k, v) => {
                if bound(k, env).is_none() || bound(v, env).is_none() {
                    return false;
                }
            }
            Stmt::MapRead {
                var,
                map,
                key,
                default,
                add,
            } => {
                let (Some(_), Some(bd), Some(ba)) =
                    (bound(key, env), bound(default, env), bound(add, env))
                else {
                    return false;
                };
                if *map == MapName::W {
                    let Some(sum) = ba.checked_add(u64::from(u32::MAX)) else {
                        return false;
                    };
                    if sum > NUM_MAX {
                        return false;
                    }
                    let slot = env.entry(var.clone()).or_insert(0);
                    *slot = (*slot).max(bd).max(sum);
                }
            }
        }
    }
    true
}

impl Program {
    /// Whether every number in the program stays exact in LuaJIT.
    pub fn bounded(&self) -> bool {
        let mut env = input_env();
        stmts_bounded(&self.body, &mut env) && bound(&self.ret, &env).is_some()
    }

    /// The `out` slots this program writes, with the type of each.
    pub fn out_types(&self) -> BTreeMap<usize, Ty> {
        fn walk(stmts: &[Stmt], out: &mut BTreeMap<usize, Ty>) {
            for s in stmts {
                match s {
                    Stmt::Out(slot, e) => {
                        out.insert(*slot, e.ty());
                    }
                    Stmt::If(arms, els) => {
                        for (_, body) in arms {
                            walk(body, out);
                        }
                        if let Some(body) = els {
                            walk(body, out);
                        }
                    }
                    _ => {}
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(&self.body, &mut out);
        out
    }

    /// The function body (without `function`/`end`), indented by `indent`; `out` slots are
    /// offset by `base` in the probe and not in the reference.
    fn render_body(&self, reference: bool, base: usize, indent: usize) -> String {
        let mut s = String::new();
        if !reference {
            for (name, _, _, text) in INPUTS {
                let _ = writeln!(s, "{:indent$}local {name} = {text}", "");
            }
        } else {
            for (name, _, _, text) in INPUTS.iter().filter(|i| i.1 == Ty::I64) {
                let _ = writeln!(s, "{:indent$}local {name} = {text}", "");
            }
        }
        render_stmts(&self.body, reference, base, indent, &mut s);
        let _ = writeln!(s, "{:indent$}return {}", "", self.ret.text(reference));
        s
    }

    /// The reference: a Lua chunk returning `function (a, b, c, d, x, m, w, out)`.
    pub fn reference_source(&self) -> String {
        format!(
            "return function (a, b, c, d, x, m, w, out)\n{}end\n",
            self.render_body(true, 0, 2)
        )
    }

    /// A standalone probe file with this one program, named `p0`.
    pub fn probe_source(&self) -> String {
        probe_file(std::slice::from_ref(self))
    }

    /// Expression nodes (for statistics and shrinking progress).
    pub fn size(&self) -> usize {
        fn stmts(list: &[Stmt]) -> usize {
            list.iter()
                .map(|s| match s {
                    Stmt::Local(_, e) | Stmt::Assign(_, e) | Stmt::Out(_, e) => 1 + e.size(),
                    Stmt::MapWrite(_, k, v) => 1 + k.size() + v.size(),
                    Stmt::MapRead {
                        key, default, add, ..
                    } => 1 + key.size() + default.size() + add.size(),
                    Stmt::If(arms, els) => {
                        1 + arms.iter().map(|(c, b)| c.size() + stmts(b)).sum::<usize>()
                            + els.as_deref().map_or(0, stmts)
                    }
                })
                .sum()
        }
        stmts(&self.body) + self.ret.size()
    }
}

fn render_stmts(stmts: &[Stmt], reference: bool, base: usize, indent: usize, s: &mut String) {
    let pad = "";
    for st in stmts {
        match st {
            Stmt::Local(name, e) => {
                let _ = writeln!(s, "{pad:indent$}local {name} = {}", e.text(reference));
            }
            Stmt::Assign(name, e) => {
                let _ = writeln!(s, "{pad:indent$}{name} = {}", e.text(reference));
            }
            Stmt::If(arms, els) => {
                for (n, (c, body)) in arms.iter().enumerate() {
                    let kw = if n == 0 { "if" } else { "elseif" };
                    let _ = writeln!(s, "{pad:indent$}{kw} {} then", c.text(reference));
                    render_stmts(body, reference, base, indent + 2, s);
                }
                if let Some(body) = els {
                    let _ = writeln!(s, "{pad:indent$}else");
                    render_stmts(body, reference, base, indent + 2, s);
                }
                let _ = writeln!(s, "{pad:indent$}end");
            }
            Stmt::Out(slot, e) => {
                let index = if reference { *slot } else { base + slot };
                let _ = writeln!(s, "{pad:indent$}out[{index}] = {}", e.text(reference));
            }
            Stmt::MapWrite(map, k, v) => {
                let _ = writeln!(
                    s,
                    "{pad:indent$}{}[{}] = {}",
                    map.name(),
                    k.text(reference),
                    v.text(reference)
                );
            }
            Stmt::MapRead {
                var,
                map,
                key,
                default,
                add,
            } => {
                let r = format!("{var}_r");
                let _ = writeln!(s, "{pad:indent$}local {var} = {}", default.text(reference));
                let _ = writeln!(
                    s,
                    "{pad:indent$}local {r} = {}[{}]",
                    map.name(),
                    key.text(reference)
                );
                let _ = writeln!(
                    s,
                    "{pad:indent$}if {r} then {var} = {r} + {} end",
                    add.text(reference)
                );
            }
        }
    }
}

/// A probe file with `programs` as socket filters `p0`, `p1`, ...; program `n` writes `out`
/// slots `n * OUT_SLOTS ..`.
pub fn probe_file(programs: &[Program]) -> String {
    let mut s = format!(
        "-- Generated by ljbpf_tests::gen (LuaJIT-vs-kernel differential test).\n\
         local out = bpf.map('array', {}, 'uint32_t', 'uint64_t')\n\
         local m = bpf.map('array', {MAP_LEN}, 'uint32_t', 'uint64_t')\n\
         local w = bpf.map('array', {MAP_LEN}, 'uint32_t', 'uint32_t')\n\
         return {{\n  out = out,\n  m = m,\n  w = w,\n",
        programs.len().max(1) * OUT_SLOTS
    );
    for (n, p) in programs.iter().enumerate() {
        let _ = write!(
            s,
            "  p{n} = bpf.socket(function (skb)\n{}  end),\n",
            p.render_body(false, n * OUT_SLOTS, 4)
        );
    }
    s.push_str("}\n");
    s
}

// ---------------------------------------------------------------------------------------------
// Generation

/// A variable in scope while generating.
#[derive(Clone, Debug)]
struct Var {
    name: String,
    ty: Ty,
}

struct Gen<'r> {
    rng: &'r mut Rng,
    /// Variables in scope, innermost last; `scopes` marks where each block's variables start.
    vars: Vec<Var>,
    scopes: Vec<usize>,
    env: Env,
    next_var: usize,
    next_slot: usize,
    /// Statements still allowed (keeps programs within the verifier's and compiler's limits).
    budget: usize,
}

const NUM_LITERALS: &[i64] = &[
    0,
    1,
    2,
    3,
    5,
    7,
    8,
    10,
    16,
    31,
    32,
    33,
    63,
    64,
    100,
    255,
    256,
    1000,
    65535,
    65536,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0x1_0000_0000,
    -1,
    -2,
    -3,
    -7,
    -8,
    -32,
    -255,
    -1000,
    -0x8000_0000,
    -0xffff_ffff,
    1 << 40,
    -(1 << 45),
];

const I64_LITERALS: &[i64] = &[
    0,
    1,
    2,
    3,
    7,
    -1,
    -2,
    -7,
    1000,
    -1000,
    0x7fff_ffff,
    0x1_0000_0000,
    -0x1_0000_0000,
    i64::MAX,
    i64::MIN + 1,
    0x0123_4567_89ab_cdef,
];

const U64_LITERALS: &[u64] = &[
    0,
    1,
    2,
    3,
    7,
    1000,
    0xffff_ffff,
    0x1_0000_0000,
    1 << 63,
    u64::MAX,
    u64::MAX - 1,
    0xff00_ff00_ff00_ff00,
];

impl Gen<'_> {
    fn vars_of(&self, ty: Ty) -> Vec<&Var> {
        self.vars.iter().filter(|v| v.ty == ty).collect()
    }

    fn leaf(&mut self, ty: Ty) -> Expr {
        let vars: Vec<String> = self.vars_of(ty).iter().map(|v| v.name.clone()).collect();
        if !vars.is_empty() && self.rng.chance(2, 3) {
            let name = self.rng.pick(&vars).clone();
            return Expr::Var(name, ty);
        }
        match ty {
            Ty::Num => Expr::Num(*self.rng.pick(NUM_LITERALS)),
            Ty::I64 => Expr::I64(*self.rng.pick(I64_LITERALS)),
            Ty::U64 => Expr::U64(*self.rng.pick(U64_LITERALS)),
            Ty::Bool => {
                let l = self.leaf(Ty::Num);
                let r = self.leaf(Ty::Num);
                Expr::Cmp(*self.rng.pick(CMPS), Box::new(l), Box::new(r))
            }
        }
    }

    /// A random expression of type `ty` whose numbers stay bounded.
    fn expr(&mut self, ty: Ty, depth: u32) -> Expr {
        for _ in 0..8 {
            let e = self.expr_raw(ty, depth);
            debug_assert_eq!(e.ty(), ty, "{}", e.text(false));
            if bound(&e, &self.env).is_some() {
                return e;
            }
        }
        self.leaf(ty)
    }

    /// Types for the operands of a binary operation producing `ty`.
    fn operand_types(&mut self, ty: Ty) -> (Ty, Ty) {
        match ty {
            Ty::Num | Ty::Bool => (Ty::Num, Ty::Num),
            cd => {
                let other = *self.rng.pick(&[Ty::Num, Ty::I64, Ty::U64, cd, cd]);
                let other = if Ty::arith(cd, other) == cd {
                    other
                } else {
                    cd
                };
                if self.rng.chance(1, 2) {
                    (cd, other)
                } else {
                    (other, cd)
                }
            }
        }
    }

    fn expr_raw(&mut self, ty: Ty, depth: u32) -> Expr {
        if depth == 0 || self.rng.chance(1, 5) {
            return self.leaf(ty);
        }
        let d = depth - 1;
        if ty == Ty::Bool {
            return match self.rng.below(10) {
                0..=4 => {
                    let lt = *self.rng.pick(&[Ty::Num, Ty::Num, Ty::I64, Ty::U64]);
                    let rt = *self.rng.pick(&[Ty::Num, Ty::Num, Ty::I64, Ty::U64, lt]);
                    let l = self.expr(lt, d);
                    let r = self.expr(rt, d);
                    Expr::Cmp(*self.rng.pick(CMPS), Box::new(l), Box::new(r))
                }
                5 => {
                    let t = *self.rng.pick(&[Ty::Num, Ty::Bool, Ty::Bool, Ty::U64]);
                    Expr::Not(Box::new(self.expr(t, d)))
                }
                6 | 7 => {
                    let l = self.expr(Ty::Bool, d);
                    let r = self.expr(Ty::Bool, d);
                    if self.rng.chance(1, 2) {
                        Expr::And(Box::new(l), Box::new(r))
                    } else {
                        Expr::Or(Box::new(l), Box::new(r))
                    }
                }
                8 => {
                    // A truthy value `and` a boolean is the boolean.
                    let l = self.expr(Ty::Num, d.min(1));
                    let r = self.expr(Ty::Bool, d);
                    Expr::And(Box::new(l), Box::new(r))
                }
                _ => {
                    let c = self.expr(Ty::Bool, d);
                    let t = self.expr(Ty::Bool, d);
                    let e = self.expr(Ty::Bool, d);
                    // `c and t or e` with boolean t is not a conditional; it is still Lua.
                    Expr::Or(Box::new(Expr::And(Box::new(c), Box::new(t))), Box::new(e))
                }
            };
        }
        match self.rng.below(20) {
            0..=7 => {
                let op = *self.rng.pick(&[
                    Arith::Add,
                    Arith::Add,
                    Arith::Sub,
                    Arith::Sub,
                    Arith::Mul,
                    Arith::Mul,
                    Arith::Div,
                    Arith::Mod,
                ]);
                let (lt, rt) = self.operand_types(ty);
                let l = self.expr(lt, d);
                let r = if matches!(op, Arith::Div | Arith::Mod) && self.rng.chance(1, 2) {
                    // Small divisors (often zero) make the interesting cases likely.
                    self.small(rt, d)
                } else {
                    self.expr(rt, d)
                };
                Expr::Arith(op, Box::new(l), Box::new(r))
            }
            8 => Expr::Neg(Box::new(self.expr(ty, d))),
            9..=12 => {
                let f = *self.rng.pick(&[
                    BitFn::Band,
                    BitFn::Bor,
                    BitFn::Bxor,
                    BitFn::Bnot,
                    BitFn::Lshift,
                    BitFn::Rshift,
                    BitFn::Arshift,
                    BitFn::Tobit,
                ]);
                match f {
                    BitFn::Bnot => Expr::Bit(f, vec![self.expr(ty, d)]),
                    BitFn::Tobit => {
                        if ty == Ty::Num {
                            Expr::Bit(f, vec![self.expr(Ty::Num, d)])
                        } else {
                            Expr::Bit(BitFn::Bnot, vec![self.expr(ty, d)])
                        }
                    }
                    BitFn::Lshift | BitFn::Rshift | BitFn::Arshift => {
                        let v = self.expr(ty, d);
                        let n = self.shift_count(d);
                        Expr::Bit(f, vec![v, n])
                    }
                    BitFn::Band | BitFn::Bor | BitFn::Bxor => {
                        let (lt, rt) = self.operand_types(ty);
                        let mut args = vec![self.expr(lt, d), self.expr(rt, d)];
                        if self.rng.chance(1, 4) {
                            args.push(self.expr(if ty == Ty::Num { Ty::Num } else { ty }, d));
                        }
                        Expr::Bit(f, args)
                    }
                }
            }
            13..=15 => {
                let op = *self.rng.pick(&[
                    NativeOp::And,
                    NativeOp::Or,
                    NativeOp::Xor,
                    NativeOp::Shl,
                    NativeOp::Shr,
                    NativeOp::Sar,
                ]);
                if op.is_shift() {
                    let v = self.expr(ty, d);
                    let n = self.shift_count(d);
                    Expr::Native(op, Box::new(v), Box::new(n))
                } else if self.rng.chance(1, 6) {
                    Expr::NativeNot(Box::new(self.expr(ty, d)))
                } else {
                    let (lt, rt) = self.operand_types(ty);
                    let l = self.expr(lt, d);
                    let r = self.expr(rt, d);
                    Expr::Native(op, Box::new(l), Box::new(r))
                }
            }
            16 | 17 => {
                let c = self.expr(Ty::Bool, d);
                let t = self.expr(ty, d);
                let e = self.expr(ty, d);
                Expr::Cond(Box::new(c), Box::new(t), Box::new(e))
            }
            18 => {
                // `v or e` is v; `v and e` is e (numbers and cdata are true).
                let other = *self.rng.pick(&[Ty::Num, Ty::I64, Ty::U64]);
                if self.rng.chance(1, 2) {
                    let l = self.expr(ty, d);
                    let r = self.expr(other, d.min(1));
                    Expr::Or(Box::new(l), Box::new(r))
                } else {
                    let l = self.expr(other, d.min(1));
                    let r = self.expr(ty, d);
                    Expr::And(Box::new(l), Box::new(r))
                }
            }
            _ => self.leaf(ty),
        }
    }

    /// A number expression LuaJIT's parser does not fold (a left operand of `%` by a
    /// constant).
    fn nonconst(&mut self, d: u32) -> Expr {
        let e = self.expr(Ty::Num, d);
        if is_const(&e) {
            let input = *self.rng.pick(&["a", "b", "c", "d"]);
            Expr::Var(input.to_owned(), Ty::Num)
        } else {
            e
        }
    }

    /// A divisor: often zero, one, minus one or small.
    fn small(&mut self, ty: Ty, d: u32) -> Expr {
        let n = *self.rng.pick(&[0i64, 0, 1, -1, 2, 3, -3, 7]);
        match (ty, self.rng.below(3)) {
            (Ty::Num, 0) => Expr::Arith(
                Arith::Mod,
                Box::new(self.nonconst(d)),
                Box::new(Expr::Num(*self.rng.pick(&[2, 3, 5]))),
            ),
            (Ty::Num, _) => Expr::Num(n),
            (Ty::I64, _) => Expr::I64(n),
            (Ty::U64, _) => Expr::U64(n as u64),
            (Ty::Bool, _) => self.leaf(Ty::Bool),
        }
    }

    /// A shift count: a number, sometimes beyond the width or negative.
    fn shift_count(&mut self, d: u32) -> Expr {
        match self.rng.below(4) {
            0 => Expr::Num(*self.rng.pick(&[0, 1, 4, 7, 31, 32, 33, 63, 64, 65, -1])),
            1 => Expr::Arith(
                Arith::Mod,
                Box::new(self.nonconst(d)),
                Box::new(Expr::Num(*self.rng.pick(&[32, 64, 70]))),
            ),
            _ => self.expr(Ty::Num, d.min(1)),
        }
    }

    fn value_ty(&mut self) -> Ty {
        *self
            .rng
            .pick(&[Ty::Num, Ty::Num, Ty::Num, Ty::I64, Ty::U64, Ty::Bool])
    }

    fn fresh(&mut self, ty: Ty) -> String {
        let prefix = match ty {
            Ty::Num => "n",
            Ty::I64 => "s",
            Ty::U64 => "u",
            Ty::Bool => "t",
        };
        self.next_var += 1;
        format!("{prefix}{}", self.next_var)
    }

    fn declare(&mut self, name: &str, ty: Ty, e: &Expr) {
        if ty == Ty::Num {
            let b = bound(e, &self.env).unwrap_or(NUM_MAX);
            let slot = self.env.entry(name.to_owned()).or_insert(0);
            *slot = (*slot).max(b);
        }
        self.vars.push(Var {
            name: name.to_owned(),
            ty,
        });
    }

    fn key(&mut self) -> Expr {
        match self.rng.below(4) {
            0 => Expr::Num(self.rng.below(MAP_LEN + 2) as i64),
            1 => Expr::Bit(
                BitFn::Band,
                vec![self.expr(Ty::Num, 1), Expr::Num(MAP_LEN as i64 - 1)],
            ),
            _ => Expr::Arith(
                Arith::Mod,
                Box::new(self.nonconst(2)),
                Box::new(Expr::Num(*self.rng.pick(&[8, 10]))),
            ),
        }
    }

    fn block(&mut self, depth: u32, len: usize) -> Vec<Stmt> {
        self.scopes.push(self.vars.len());
        let mut out = Vec::new();
        for _ in 0..len {
            if self.budget == 0 {
                break;
            }
            self.budget -= 1;
            out.push(self.stmt(depth));
        }
        let start = self.scopes.pop().expect("scope");
        self.vars.truncate(start);
        out
    }

    fn stmt(&mut self, depth: u32) -> Stmt {
        let ed = 1 + self.rng.below(3) as u32;
        match self.rng.below(20) {
            0..=5 => {
                let ty = self.value_ty();
                let e = self.expr(ty, ed);
                let name = self.fresh(ty);
                self.declare(&name, ty, &e);
                Stmt::Local(name, e)
            }
            6..=8 => {
                let candidates: Vec<Var> = self
                    .vars
                    .iter()
                    .filter(|v| v.ty != Ty::Bool || self.vars.len() < 4)
                    .cloned()
                    .collect();
                let v = self.rng.pick(&candidates).clone();
                let e = self.expr(v.ty, ed);
                if v.ty == Ty::Num {
                    let b = bound(&e, &self.env).unwrap_or(NUM_MAX);
                    let slot = self.env.entry(v.name.clone()).or_insert(0);
                    *slot = (*slot).max(b);
                }
                Stmt::Assign(v.name, e)
            }
            9..=11 if depth > 0 => {
                let arms = 1 + self.rng.below(3);
                let mut list = Vec::new();
                for _ in 0..arms {
                    let c = self.expr(Ty::Bool, ed);
                    let n = 1 + self.rng.below(3);
                    list.push((c, self.block(depth - 1, n)));
                }
                let els = if self.rng.chance(1, 2) {
                    let n = 1 + self.rng.below(3);
                    Some(self.block(depth - 1, n))
                } else {
                    None
                };
                Stmt::If(list, els)
            }
            12..=14 if self.next_slot < OUT_SLOTS => {
                let ty = *self.rng.pick(&[Ty::Num, Ty::I64, Ty::U64]);
                let e = self.expr(ty, ed);
                self.next_slot += 1;
                Stmt::Out(self.next_slot - 1, e)
            }
            15 | 16 => {
                let map = if self.rng.chance(1, 2) {
                    MapName::M
                } else {
                    MapName::W
                };
                let k = self.key();
                let v = match map {
                    MapName::M => {
                        let ty = *self.rng.pick(&[Ty::Num, Ty::I64, Ty::U64]);
                        self.expr(ty, ed)
                    }
                    // Numbers into uint32_t: C leaves out-of-range conversions undefined, so
                    // keep them in range; cdata convert by truncation.
                    MapName::W => {
                        if self.rng.chance(1, 2) {
                            Expr::Bit(
                                BitFn::Band,
                                vec![self.expr(Ty::Num, ed), Expr::Num(0x7fff_ffff)],
                            )
                        } else {
                            let ty = *self.rng.pick(&[Ty::I64, Ty::U64]);
                            self.expr(ty, ed)
                        }
                    }
                };
                Stmt::MapWrite(map, k, v)
            }
            17 | 18 => {
                let map = if self.rng.chance(1, 2) {
                    MapName::M
                } else {
                    MapName::W
                };
                let key = self.key();
                let (ty, default, add) = match map {
                    MapName::M => {
                        let at = *self.rng.pick(&[Ty::Num, Ty::I64, Ty::U64]);
                        (Ty::U64, self.expr(Ty::U64, 1), self.expr(at, ed))
                    }
                    MapName::W => {
                        let mut add = self.expr(Ty::Num, ed);
                        let too_big = bound(&add, &self.env)
                            .is_none_or(|b| b + u64::from(u32::MAX) > NUM_MAX);
                        if too_big {
                            add = self.leaf(Ty::Num);
                            if bound(&add, &self.env)
                                .is_none_or(|b| b + u64::from(u32::MAX) > NUM_MAX)
                            {
                                add = Expr::Num(1);
                            }
                        }
                        (Ty::Num, self.expr(Ty::Num, 1), add)
                    }
                };
                let var = self.fresh(ty);
                if ty == Ty::Num {
                    let b = bound(&default, &self.env)
                        .unwrap_or(NUM_MAX)
                        .max(bound(&add, &self.env).unwrap_or(NUM_MAX) + u64::from(u32::MAX));
                    self.env.insert(var.clone(), b.min(NUM_MAX));
                }
                self.vars.push(Var {
                    name: var.clone(),
                    ty,
                });
                Stmt::MapRead {
                    var,
                    map,
                    key,
                    default,
                    add,
                }
            }
            _ => {
                let ty = *self.rng.pick(&[Ty::Num, Ty::I64, Ty::U64]);
                let e = self.expr(ty, ed);
                let name = self.fresh(ty);
                self.declare(&name, ty, &e);
                Stmt::Local(name, e)
            }
        }
    }
}

const CMPS: &[Cmp] = &[Cmp::Lt, Cmp::Le, Cmp::Gt, Cmp::Ge, Cmp::Eq, Cmp::Ne];

impl Program {
    /// A random program.
    pub fn generate(rng: &mut Rng) -> Program {
        let vars = INPUTS
            .iter()
            .map(|i| Var {
                name: i.0.to_owned(),
                ty: i.1,
            })
            .collect();
        let budget = 4 + rng.below(14);
        let mut g = Gen {
            rng,
            vars,
            scopes: Vec::new(),
            env: input_env(),
            next_var: 0,
            next_slot: 0,
            budget,
        };
        let len = g.budget;
        let mut body = g.block(3, len);
        // `block` ended the top block's scope; bring its locals back for the final outputs.
        for s in &body {
            if let Stmt::Local(name, e) = s {
                g.vars.push(Var {
                    name: name.clone(),
                    ty: e.ty(),
                });
            }
            if let Stmt::MapRead { var, map, .. } = s {
                g.vars.push(Var {
                    name: var.clone(),
                    ty: if *map == MapName::M { Ty::U64 } else { Ty::Num },
                });
            }
        }
        // Every top-level local ends up in an output, so nothing computed is dead.
        let locals: Vec<Var> = g.vars[INPUTS.len()..].to_vec();
        for v in locals {
            if g.next_slot >= OUT_SLOTS {
                break;
            }
            let e = if v.ty == Ty::Bool {
                Expr::Cond(
                    Box::new(Expr::Var(v.name.clone(), Ty::Bool)),
                    Box::new(Expr::Num(1)),
                    Box::new(Expr::Num(0)),
                )
            } else {
                Expr::Var(v.name.clone(), v.ty)
            };
            body.push(Stmt::Out(g.next_slot, e));
            g.next_slot += 1;
        }
        let rt = *g.rng.pick(&[Ty::Num, Ty::Num, Ty::Num, Ty::I64, Ty::U64]);
        let ret = g.expr(rt, 2);
        let p = Program { body, ret };
        debug_assert!(p.bounded(), "{}", p.probe_source());
        p
    }
}

// ---------------------------------------------------------------------------------------------
// Inputs and running

/// One set of inputs: packet fields and the initial contents of `m` and `w`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Input {
    pub a: i32,
    pub b: i32,
    pub c: u32,
    pub d: u8,
    pub x: u64,
    pub m: [u64; MAP_LEN],
    pub w: [u32; MAP_LEN],
}

const INTERESTING_32: &[u32] = &[
    0,
    1,
    2,
    3,
    7,
    31,
    32,
    63,
    64,
    255,
    0xffff,
    0x1_0000,
    0x7fff_ffff,
    0x8000_0000,
    0x8000_0001,
    0xffff_fff9,
    0xffff_fffe,
    0xffff_ffff,
];

const INTERESTING_64: &[u64] = &[
    0,
    1,
    2,
    3,
    7,
    63,
    64,
    0xffff_ffff,
    0x1_0000_0000,
    0x7fff_ffff_ffff_ffff,
    1 << 63,
    (1 << 63) + 1,
    u64::MAX,
    u64::MAX - 6,
];

impl Input {
    pub fn generate(rng: &mut Rng) -> Input {
        let v32 = |rng: &mut Rng| -> u32 {
            if rng.chance(1, 2) {
                *rng.pick(INTERESTING_32)
            } else if rng.chance(1, 2) {
                rng.below(20) as u32
            } else {
                rng.next_u64() as u32
            }
        };
        let a = v32(rng) as i32;
        let b = v32(rng) as i32;
        let c = v32(rng);
        let d = v32(rng) as u8;
        let v64 = |rng: &mut Rng| -> u64 {
            if rng.chance(1, 2) {
                *rng.pick(INTERESTING_64)
            } else if rng.chance(1, 3) {
                rng.below(20) as u64
            } else {
                rng.next_u64()
            }
        };
        let x = v64(rng);
        let mut m = [0u64; MAP_LEN];
        for v in &mut m {
            *v = v64(rng);
        }
        let mut w = [0u32; MAP_LEN];
        for v in &mut w {
            *v = v32(rng);
        }
        Input {
            a,
            b,
            c,
            d,
            x,
            m,
            w,
        }
    }

    /// The frame for `BPF_PROG_TEST_RUN`: 14 bytes the kernel strips, then an Ethernet header,
    /// IPv4 (ihl 5, TCP) and TCP, with `x` where an IPv6 header's `dst_lo` would be.
    pub fn packet(&self) -> Vec<u8> {
        let mut p = vec![0u8; 14 + 14 + 60];
        let eth = 14;
        p[eth + 12] = 0x08; // type 0x0800
        let ip = eth + 14;
        p[ip] = 0x45;
        p[ip + 8] = self.d;
        p[ip + 9] = 6;
        p[ip + 12..ip + 16].copy_from_slice(&((self.a as u32) ^ 0x8000_0000).to_be_bytes());
        p[ip + 16..ip + 20].copy_from_slice(&((self.b as u32) ^ 0x8000_0000).to_be_bytes());
        let tcp = ip + 20;
        p[tcp + 4..tcp + 8].copy_from_slice(&self.c.to_be_bytes());
        p[ip + 32..ip + 40].copy_from_slice(&self.x.to_be_bytes());
        p
    }

    /// As a Lua comment, for minimised probe files.
    pub fn describe(&self) -> String {
        format!(
            "a={} b={} c={} d={} x={:#x} m={:x?} w={:x?}",
            self.a, self.b, self.c, self.d, self.x, self.m, self.w
        )
    }
}

/// What one run produced (either side).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    /// The low 32 bits of the return value.
    pub ret: u32,
    /// `out` slots; `None` when not written.
    pub out: Vec<Option<u64>>,
    pub m: [u64; MAP_LEN],
    pub w: [u32; MAP_LEN],
}

impl Observed {
    /// Lines describing where `self` (LuaJIT) and `kernel` differ.
    pub fn diff(&self, kernel: &Observed) -> Vec<String> {
        let mut out = Vec::new();
        let show = |v: u64| format!("{v} ({v:#x}, as int64 {})", v as i64);
        if self.ret != kernel.ret {
            out.push(format!(
                "return value: LuaJIT {} , kernel {}",
                self.ret, kernel.ret
            ));
        }
        for (n, (l, k)) in self.out.iter().zip(&kernel.out).enumerate() {
            if l != k {
                let s = |v: &Option<u64>| v.map_or("not written".to_owned(), show);
                out.push(format!("out[{n}]: LuaJIT {}, kernel {}", s(l), s(k)));
            }
        }
        for n in 0..MAP_LEN {
            if self.m[n] != kernel.m[n] {
                out.push(format!(
                    "m[{n}]: LuaJIT {}, kernel {}",
                    show(self.m[n]),
                    show(kernel.m[n])
                ));
            }
            if self.w[n] != kernel.w[n] {
                out.push(format!(
                    "w[{n}]: LuaJIT {}, kernel {}",
                    self.w[n], kernel.w[n]
                ));
            }
        }
        out
    }
}

/// Marks `out` slots the program did not write.
const SENTINEL: u64 = 0x5a5a_1234_dead_beef;

const PRELUDE: &str = r#"
local ffi = require('ffi')
jit.off()
function idiv(p, q)
  if q == 0 then return (p - p) + (q - q) end
  if type(p) == 'number' and type(q) == 'number' then
    -- Exact: fmod is exact and p - fmod(p, q) is a multiple of q.
    return (p - math.fmod(p, q)) / q
  end
  return p / q
end
function imod(p, q)
  if q == 0 then return p + (q - q) end
  return p % q
end
local function repr(v)
  local t = type(v)
  if t == 'number' then
    if v ~= v or v ~= math.floor(v) then return 'F:' .. tostring(v) end
    if math.abs(v) > 2^53 then return 'X:' .. tostring(v) end
    return string.format('N:%.0f', v)
  elseif t == 'cdata' then
    local s = tostring(v)
    if s:sub(-3) == 'ULL' then return 'U:' .. s:sub(1, -4) end
    if s:sub(-2) == 'LL' then return 'I:' .. s:sub(1, -3) end
    return 'C:' .. s
  end
  return 'T:' .. tostring(v)
end
local function mkmap(ctype, init)
  local n = #init
  local arr = ffi.new(ctype .. '[?]', n)
  for k = 0, n - 1 do arr[k] = init[k + 1] end
  local proxy = setmetatable({}, {
    -- A number key converts to the map's uint32_t key type: modulo 2^32.
    __index = function(_, k)
      if type(k) ~= 'number' or k ~= math.floor(k) then error('bad key ' .. tostring(k)) end
      k = k % 4294967296
      if k >= n then return nil end
      return arr[k]
    end,
    __newindex = function(_, k, v)
      if type(k) ~= 'number' or k ~= math.floor(k) then error('bad key ' .. tostring(k)) end
      k = k % 4294967296
      if k >= n then return end
      arr[k] = v
    end,
  })
  return proxy, arr
end
function run_case(f, a, b, c, d, xhi, xlo, mhalves, winit, nout)
  local x = 0x100000000ULL * xhi + xlo
  local minit = {}
  for k = 1, #mhalves, 2 do minit[#minit + 1] = 0x100000000ULL * mhalves[k] + mhalves[k + 1] end
  local m, marr = mkmap('uint64_t', minit)
  local w, warr = mkmap('uint32_t', winit)
  local outv = {}
  local out = setmetatable({}, {
    __newindex = function(_, k, v) outv[k] = repr(v) end,
    __index = function() error('out is write-only') end,
  })
  local ok, r = pcall(f, a, b, c, d, x, m, w, out)
  if not ok then return 'E:' .. tostring(r) end
  local res = { repr(r) }
  for k = 0, nout - 1 do res[#res + 1] = outv[k] or 'S' end
  for k = 0, #minit - 1 do res[#res + 1] = repr(marr[k]) end
  for k = 0, #winit - 1 do res[#res + 1] = repr(warr[k]) end
  return table.concat(res, ' ')
end
"#;

/// LuaJIT, set up to run reference functions.
pub struct Reference {
    lua: Lua,
    run_case: Function,
}

impl Default for Reference {
    fn default() -> Self {
        Self::new()
    }
}

impl Reference {
    pub fn new() -> Reference {
        // SAFETY: an unsafe state only to get the ffi library (cdata, ffi arrays); it runs the
        // generator's own code.
        let lua = unsafe { Lua::unsafe_new() };
        lua.load(PRELUDE).exec().expect("reference prelude");
        let run_case = lua.globals().get("run_case").expect("run_case");
        Reference { lua, run_case }
    }

    /// Compiles a program's reference function.
    pub fn function(&self, program: &Program) -> Result<Function, String> {
        self.lua
            .load(program.reference_source())
            .set_name("=reference")
            .eval()
            .map_err(|e| format!("reference does not load: {e}"))
    }

    /// Runs `f` (of `program`) on `input`. An `Err` is a generator defect (LuaJIT raised an
    /// error, a value is inexact or of another type than the generator thinks).
    pub fn run(&self, program: &Program, f: &Function, input: &Input) -> Result<Observed, String> {
        let halves: Vec<u32> = input
            .m
            .iter()
            .flat_map(|v| [(v >> 32) as u32, *v as u32])
            .collect();
        let mtab: Table = self
            .lua
            .create_sequence_from(halves)
            .map_err(|e| e.to_string())?;
        let wtab: Table = self
            .lua
            .create_sequence_from(input.w.iter().copied())
            .map_err(|e| e.to_string())?;
        let text: String = self
            .run_case
            .call((
                f.clone(),
                input.a,
                input.b,
                input.c,
                input.d,
                (input.x >> 32) as u32,
                input.x as u32,
                mtab,
                wtab,
                OUT_SLOTS,
            ))
            .map_err(|e| format!("reference: {e}"))?;
        if let Some(err) = text.strip_prefix("E:") {
            return Err(format!("LuaJIT raised an error: {err}"));
        }
        let fields: Vec<&str> = text.split(' ').collect();
        if fields.len() != 1 + OUT_SLOTS + 2 * MAP_LEN {
            return Err(format!("reference returned {text:?}"));
        }
        let types = program.out_types();
        let value = |field: &str, want: Option<Ty>| -> Result<u64, String> {
            let (tag, digits) = field
                .split_once(':')
                .ok_or_else(|| format!("reference value {field:?}"))?;
            let tag = tag.chars().next().unwrap_or('?');
            if !matches!(tag, 'N' | 'I' | 'U') {
                return Err(format!("reference value {field:?} is not an exact integer"));
            }
            if let Some(want) = want {
                if tag != want.tag() {
                    return Err(format!(
                        "generator typed a value {want:?} but LuaJIT computed {field}"
                    ));
                }
            }
            let n: i128 = digits
                .parse()
                .map_err(|_| format!("reference value {field:?}"))?;
            Ok(n as u64)
        };
        let ret = value(fields[0], Some(program.ret.ty()))? as u32;
        let mut out = Vec::with_capacity(OUT_SLOTS);
        for (slot, field) in fields[1..=OUT_SLOTS].iter().enumerate() {
            if *field == "S" {
                out.push(None);
            } else {
                out.push(Some(value(field, types.get(&slot).copied())?));
            }
        }
        let mut m = [0u64; MAP_LEN];
        for (n, field) in fields[1 + OUT_SLOTS..1 + OUT_SLOTS + MAP_LEN]
            .iter()
            .enumerate()
        {
            m[n] = value(field, Some(Ty::U64))?;
        }
        let mut w = [0u32; MAP_LEN];
        for (n, field) in fields[1 + OUT_SLOTS + MAP_LEN..].iter().enumerate() {
            w[n] = value(field, Some(Ty::Num))? as u32;
        }
        Ok(Observed { ret, out, m, w })
    }
}

/// Runs program `index` of a loaded probe file made by [`probe_file`] on `input`.
pub fn run_kernel(
    probe: &mut ljbpf_runtime::Probe,
    index: usize,
    input: &Input,
) -> Result<Observed, String> {
    let e = |e: &dyn std::fmt::Display| e.to_string();
    let base = index * OUT_SLOTS;
    {
        let mut out: Array<_, u64> =
            Array::try_from(probe.map_mut("out").map_err(|x| e(&x))?).map_err(|x| e(&x))?;
        for slot in 0..OUT_SLOTS {
            out.set((base + slot) as u32, SENTINEL, 0)
                .map_err(|x| e(&x))?;
        }
    }
    {
        let mut m: Array<_, u64> =
            Array::try_from(probe.map_mut("m").map_err(|x| e(&x))?).map_err(|x| e(&x))?;
        for (n, v) in input.m.iter().enumerate() {
            m.set(n as u32, *v, 0).map_err(|x| e(&x))?;
        }
    }
    {
        let mut w: Array<_, u32> =
            Array::try_from(probe.map_mut("w").map_err(|x| e(&x))?).map_err(|x| e(&x))?;
        for (n, v) in input.w.iter().enumerate() {
            w.set(n as u32, *v, 0).map_err(|x| e(&x))?;
        }
    }
    let res = probe
        .test_run(&format!("p{index}"), &input.packet(), 1)
        .map_err(|x| e(&x))?;
    let mut obs = Observed {
        ret: res.retval,
        out: Vec::with_capacity(OUT_SLOTS),
        m: [0; MAP_LEN],
        w: [0; MAP_LEN],
    };
    {
        let out: Array<_, u64> =
            Array::try_from(probe.map("out").map_err(|x| e(&x))?).map_err(|x| e(&x))?;
        for slot in 0..OUT_SLOTS {
            let v = out.get(&((base + slot) as u32), 0).map_err(|x| e(&x))?;
            obs.out.push((v != SENTINEL).then_some(v));
        }
    }
    {
        let m: Array<_, u64> =
            Array::try_from(probe.map("m").map_err(|x| e(&x))?).map_err(|x| e(&x))?;
        for n in 0..MAP_LEN {
            obs.m[n] = m.get(&(n as u32), 0).map_err(|x| e(&x))?;
        }
    }
    {
        let w: Array<_, u32> =
            Array::try_from(probe.map("w").map_err(|x| e(&x))?).map_err(|x| e(&x))?;
        for n in 0..MAP_LEN {
            obs.w[n] = w.get(&(n as u32), 0).map_err(|x| e(&x))?;
        }
    }
    Ok(obs)
}

// ---------------------------------------------------------------------------------------------
// Batches

/// Why a program failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// LuaJIT and the kernel disagree.
    Mismatch,
    /// The compiler gave diagnostics for a program the generator thinks is in the subset.
    CompileError,
    /// The compiler panicked.
    Panic,
    /// The verifier rejected a compiled program.
    Verifier,
    /// The reference side failed: a generator defect, not a compiler one.
    Generator,
    /// Running it in the kernel failed (`BPF_PROG_TEST_RUN`, maps).
    Kernel,
}

/// One failing program.
#[derive(Clone, Debug)]
pub struct Failure {
    pub kind: FailureKind,
    /// The program's number in its run (see [`difftest`]).
    pub index: usize,
    pub program: Program,
    /// The input it failed on, if it got that far.
    pub input: Option<Input>,
    /// What went wrong, with the listing when there is one.
    pub detail: String,
}

/// Counts of a batch run.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub programs: usize,
    /// (program, input) pairs compared.
    pub cases: usize,
    pub probe_files: usize,
}

/// Compiles probe text, turning a panic into an error.
fn compile_caught(name: &str, source: &str) -> Result<ljbpf_build::CompiledProbe, (bool, String)> {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        crate::compile_str(name, source)
    }));
    match result {
        Ok(Ok(p)) => Ok(p),
        Ok(Err(d)) => Err((false, d.to_string())),
        Err(panic) => Err((true, panic_message(&panic))),
    }
}

/// The text of a caught panic.
pub fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}

/// Compiles and loads `programs` as one probe file.
fn build(
    programs: &[Program],
) -> Result<(ljbpf_build::CompiledProbe, ljbpf_runtime::Probe), (FailureKind, String)> {
    let source = probe_file(programs);
    let compiled = compile_caught("difftest.lua", &source).map_err(|(panicked, d)| {
        let kind = if panicked {
            FailureKind::Panic
        } else {
            FailureKind::CompileError
        };
        (kind, d)
    })?;
    let probe = ljbpf_runtime::Probe::load(ljbpf_cli::spec(&compiled)).map_err(|e| {
        (
            FailureKind::Verifier,
            format!("{e}\nlisting:\n{}", compiled.listing),
        )
    })?;
    Ok((compiled, probe))
}

/// Runs `programs` (as few probe files as possible) on every input; returns failures.
pub fn run_batch(
    reference: &Reference,
    programs: &[(usize, Program)],
    inputs: &[Input],
    stats: &mut Stats,
) -> Vec<Failure> {
    let mut failures = Vec::new();
    let bare: Vec<Program> = programs.iter().map(|p| p.1.clone()).collect();
    match build(&bare) {
        Ok((compiled, mut probe)) => {
            stats.probe_files += 1;
            for (n, (index, p)) in programs.iter().enumerate() {
                stats.programs += 1;
                if let Some(mut f) =
                    check_program(reference, p, &compiled, &mut probe, n, inputs, stats)
                {
                    f.index = *index;
                    failures.push(f);
                }
            }
        }
        Err(_) if programs.len() > 1 => {
            // Find the culprits one by one.
            let mid = programs.len() / 2;
            failures.extend(run_batch(reference, &programs[..mid], inputs, stats));
            failures.extend(run_batch(reference, &programs[mid..], inputs, stats));
        }
        Err((kind, detail)) => {
            stats.programs += 1;
            failures.push(Failure {
                kind,
                index: programs[0].0,
                program: programs[0].1.clone(),
                input: None,
                detail,
            });
        }
    }
    failures
}

fn check_program(
    reference: &Reference,
    program: &Program,
    compiled: &ljbpf_build::CompiledProbe,
    probe: &mut ljbpf_runtime::Probe,
    index: usize,
    inputs: &[Input],
    stats: &mut Stats,
) -> Option<Failure> {
    let fail = |kind, input: Option<&Input>, detail: String| Failure {
        kind,
        index: 0,
        program: program.clone(),
        input: input.cloned(),
        detail,
    };
    let f = match reference.function(program) {
        Ok(f) => f,
        Err(e) => return Some(fail(FailureKind::Generator, None, e)),
    };
    for input in inputs {
        let want = match reference.run(program, &f, input) {
            Ok(w) => w,
            Err(e) => return Some(fail(FailureKind::Generator, Some(input), e)),
        };
        let got = match run_kernel(probe, index, input) {
            Ok(g) => g,
            Err(e) => return Some(fail(FailureKind::Kernel, Some(input), e)),
        };
        stats.cases += 1;
        if want != got {
            let listing = program_listing(compiled, index);
            return Some(fail(
                FailureKind::Mismatch,
                Some(input),
                format!("{}\nlisting:\n{listing}", want.diff(&got).join("\n")),
            ));
        }
    }
    None
}

/// The part of a probe listing about program `p{index}`.
fn program_listing(compiled: &ljbpf_build::CompiledProbe, index: usize) -> String {
    let name = format!("p{index}");
    let mut out = String::new();
    let mut inside = false;
    for line in compiled.listing.lines() {
        let header = !line.starts_with(' ') && !line.starts_with('\t') && line.contains(':');
        if header && !line.trim_start().starts_with(|c: char| c.is_ascii_digit()) {
            inside = line.contains(&name)
                && line
                    .split(|c: char| !c.is_alphanumeric() && c != '_')
                    .any(|w| w == name);
        }
        if inside {
            out.push_str(line);
            out.push('\n');
        }
    }
    if out.is_empty() {
        compiled.listing.clone()
    } else {
        out
    }
}

/// Whether `program` still fails the way `kind` says on `input` (compiled alone).
pub fn still_fails(
    reference: &Reference,
    program: &Program,
    kind: &FailureKind,
    input: Option<&Input>,
) -> bool {
    if !program.bounded() {
        return false;
    }
    let f = match reference.function(program) {
        Ok(f) => f,
        Err(_) => return false,
    };
    // The reference must run cleanly on the input (or on a default one), so that a candidate
    // never "fails" only because it is not valid Lua any more.
    let probe_input = input
        .cloned()
        .unwrap_or_else(|| Input::generate(&mut Rng::new(0)));
    let Ok(want) = reference.run(program, &f, &probe_input) else {
        return false;
    };
    match build(std::slice::from_ref(program)) {
        Ok((_, mut probe)) => {
            if *kind != FailureKind::Mismatch {
                return false;
            }
            match run_kernel(&mut probe, 0, &probe_input) {
                Ok(got) => got != want,
                Err(_) => false,
            }
        }
        Err((k, detail)) => {
            // A diagnostic that is about the candidate being broken (undefined name) is not
            // the failure we are after.
            k == *kind && !detail.contains("unknown global") && !detail.contains("undefined")
        }
    }
}

/// Shrinks `program` while `fails` holds: drops statements, flattens `if`s, replaces
/// subexpressions by their operands or by small leaves.
pub fn shrink(program: &Program, fails: &mut dyn FnMut(&Program) -> bool) -> Program {
    let mut best = program.clone();
    loop {
        let mut improved = false;
        for cand in candidates(&best) {
            if cand.size() < best.size() && fails(&cand) {
                best = cand;
                improved = true;
                break;
            }
        }
        if !improved {
            return best;
        }
    }
}

/// Smaller variants of `p`, roughly largest reductions first.
fn candidates(p: &Program) -> Vec<Program> {
    let mut out = Vec::new();
    // Statement-level edits.
    let n = count_stmts(&p.body);
    for at in 0..n {
        let mut body = p.body.clone();
        let mut k = at;
        edit_stmt(&mut body, &mut k, &mut |list, i| {
            list.remove(i);
        });
        out.push(Program {
            body,
            ret: p.ret.clone(),
        });
        // Flatten an `if` into one of its arms.
        for arm in 0..4 {
            let mut body = p.body.clone();
            let mut k = at;
            let mut changed = false;
            edit_stmt(&mut body, &mut k, &mut |list, i| {
                if let Stmt::If(arms, els) = &list[i] {
                    let chosen = if arm < arms.len() {
                        Some(arms[arm].1.clone())
                    } else if arm == arms.len() {
                        els.clone()
                    } else {
                        None
                    };
                    if let Some(stmts) = chosen {
                        list.splice(i..=i, stmts);
                        changed = true;
                    }
                }
            });
            if changed {
                out.push(Program {
                    body,
                    ret: p.ret.clone(),
                });
            }
            // Drop one arm of an if (keeping at least one).
            let mut body = p.body.clone();
            let mut k = at;
            let mut changed = false;
            edit_stmt(&mut body, &mut k, &mut |list, i| {
                if let Stmt::If(arms, els) = &mut list[i] {
                    if arm < arms.len() && arms.len() > 1 {
                        arms.remove(arm);
                        changed = true;
                    } else if arm == arms.len() && els.is_some() {
                        *els = None;
                        changed = true;
                    }
                }
            });
            if changed {
                out.push(Program {
                    body,
                    ret: p.ret.clone(),
                });
            }
        }
    }
    // Expression-level edits: every expression slot, every node in it.
    let slots = count_exprs(p);
    for slot in 0..slots {
        let e = expr_at(p, slot);
        let nodes = e.size();
        for node in 0..nodes {
            let sub = node_at(&e, node).clone();
            let ty = sub.ty();
            let mut replacements: Vec<Expr> = sub
                .children()
                .into_iter()
                .filter(|c| c.ty() == ty)
                .cloned()
                .collect();
            let simple = match ty {
                Ty::Num => vec![Expr::Num(0), Expr::Num(1), Expr::Var("a".into(), Ty::Num)],
                Ty::I64 => vec![Expr::I64(0), Expr::Var("i".into(), Ty::I64)],
                Ty::U64 => vec![Expr::U64(0), Expr::Var("x".into(), Ty::U64)],
                Ty::Bool => vec![Expr::Cmp(
                    Cmp::Lt,
                    Box::new(Expr::Var("a".into(), Ty::Num)),
                    Box::new(Expr::Var("b".into(), Ty::Num)),
                )],
            };
            replacements.extend(simple.into_iter().filter(|s| *s != sub && sub.size() > 1));
            if let Expr::Num(v) = sub {
                if v != 0 && v != 1 {
                    replacements.push(Expr::Num(v / 2));
                }
            }
            for r in replacements {
                let mut q = p.clone();
                let mut k = slot;
                with_expr_mut(&mut q, &mut k, &mut |root| {
                    let mut kk = node;
                    replace_node(root, &mut kk, &r);
                });
                if q.size() <= p.size() && q != *p {
                    out.push(q);
                }
            }
        }
    }
    out
}

fn count_stmts(list: &[Stmt]) -> usize {
    list.iter()
        .map(|s| match s {
            Stmt::If(arms, els) => {
                1 + arms.iter().map(|(_, b)| count_stmts(b)).sum::<usize>()
                    + els.as_deref().map_or(0, count_stmts)
            }
            _ => 1,
        })
        .sum()
}

/// Calls `f(list, i)` for the `k`-th statement in pre-order.
fn edit_stmt(
    list: &mut Vec<Stmt>,
    k: &mut usize,
    f: &mut dyn FnMut(&mut Vec<Stmt>, usize),
) -> bool {
    for i in 0..list.len() {
        if *k == 0 {
            f(list, i);
            return true;
        }
        *k -= 1;
        if let Stmt::If(arms, els) = &mut list[i] {
            for (_, body) in arms.iter_mut() {
                if edit_stmt(body, k, f) {
                    return true;
                }
            }
            if let Some(body) = els {
                if edit_stmt(body, k, f) {
                    return true;
                }
            }
        }
    }
    false
}

/// Expression roots of a program, in a fixed order.
fn exprs_mut(p: &mut Program) -> Vec<&mut Expr> {
    fn walk<'a>(list: &'a mut [Stmt], out: &mut Vec<&'a mut Expr>) {
        for s in list {
            match s {
                Stmt::Local(_, e) | Stmt::Assign(_, e) | Stmt::Out(_, e) => out.push(e),
                Stmt::MapWrite(_, k, v) => {
                    out.push(k);
                    out.push(v);
                }
                Stmt::MapRead {
                    key, default, add, ..
                } => {
                    out.push(key);
                    out.push(default);
                    out.push(add);
                }
                Stmt::If(arms, els) => {
                    for (c, body) in arms.iter_mut() {
                        out.push(c);
                        walk(body, out);
                    }
                    if let Some(body) = els {
                        walk(body, out);
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(&mut p.body, &mut out);
    out.push(&mut p.ret);
    out
}

fn count_exprs(p: &Program) -> usize {
    exprs_mut(&mut p.clone()).len()
}

fn expr_at(p: &Program, slot: usize) -> Expr {
    let mut q = p.clone();
    exprs_mut(&mut q)[slot].clone()
}

fn with_expr_mut(p: &mut Program, slot: &mut usize, f: &mut dyn FnMut(&mut Expr)) {
    let mut all = exprs_mut(p);
    f(all[*slot]);
}

/// The `k`-th node in pre-order.
fn node_at(e: &Expr, k: usize) -> &Expr {
    fn go<'a>(e: &'a Expr, k: &mut usize) -> Option<&'a Expr> {
        if *k == 0 {
            return Some(e);
        }
        *k -= 1;
        for c in e.children() {
            if let Some(found) = go(c, k) {
                return Some(found);
            }
        }
        None
    }
    let mut k = k;
    go(e, &mut k).expect("node index in range")
}

fn replace_node(e: &mut Expr, k: &mut usize, with: &Expr) -> bool {
    if *k == 0 {
        *e = with.clone();
        return true;
    }
    *k -= 1;
    for c in e.children_mut() {
        if replace_node(c, k, with) {
            return true;
        }
    }
    false
}

/// What `program` does wrong on `input` now: the differences and the listing, or the
/// diagnostics / verifier rejection.
pub fn explain(reference: &Reference, program: &Program, input: Option<&Input>) -> String {
    let input = input
        .cloned()
        .unwrap_or_else(|| Input::generate(&mut Rng::new(0)));
    let want = reference
        .function(program)
        .and_then(|f| reference.run(program, &f, &input));
    match build(std::slice::from_ref(program)) {
        Ok((compiled, mut probe)) => {
            let got = run_kernel(&mut probe, 0, &input);
            match (want, got) {
                (Ok(w), Ok(g)) => {
                    let diff = w.diff(&g);
                    let diff = if diff.is_empty() {
                        "(no difference)".to_owned()
                    } else {
                        diff.join("\n")
                    };
                    format!("{diff}\nlisting:\n{}", compiled.listing)
                }
                (w, g) => format!("reference: {w:?}\nkernel: {g:?}"),
            }
        }
        Err((kind, detail)) => format!("{kind:?}: {detail}"),
    }
}

/// A minimised failing program as a probe file, with the input, a `ljbpf test-run` command
/// line and `detail` (see [`explain`]) as comments.
pub fn regression_file(failure: &Failure, minimised: &Program, detail: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "-- ljbpf difftest failure: {:?}", failure.kind);
    if let Some(input) = &failure.input {
        let _ = writeln!(s, "-- input: {}", input.describe());
        let hex: String = input.packet().iter().map(|b| format!("{b:02x}")).collect();
        let _ = writeln!(
            s,
            "-- run: ljbpf test-run FILE --program p0 --data {hex}\n--   (maps m and w start as zeros there, not as in the input above)"
        );
    }
    for line in detail.lines() {
        let _ = writeln!(s, "-- {line}");
    }
    let _ = writeln!(s, "-- reference (LuaJIT) body:");
    for line in minimised.reference_source().lines() {
        let _ = writeln!(s, "--   {line}");
    }
    s.push_str(&minimised.probe_source());
    s
}

/// A differential test run.
#[derive(Clone, Debug)]
pub struct Run {
    pub seed: u64,
    /// Programs to generate, numbered from 0.
    pub programs: usize,
    /// Input sets per program.
    pub inputs: usize,
    /// Programs per probe file.
    pub per_file: usize,
    /// Programs (by number) generated but not run: known compiler bugs.
    pub skip: Vec<usize>,
}

/// Generates the run's programs and inputs from its seed (the stream does not depend on
/// `skip`), runs them `per_file` programs per probe file, and returns the failures.
pub fn difftest(run: &Run, stats: &mut Stats) -> Vec<Failure> {
    let reference = Reference::new();
    let mut rng = Rng::new(run.seed);
    let mut failures = Vec::new();
    let mut done = 0;
    while done < run.programs {
        let n = run.per_file.min(run.programs - done);
        let programs: Vec<(usize, Program)> = (done..done + n)
            .map(|index| (index, Program::generate(&mut rng)))
            .collect();
        let inputs: Vec<Input> = (0..run.inputs).map(|_| Input::generate(&mut rng)).collect();
        let programs: Vec<(usize, Program)> = programs
            .into_iter()
            .filter(|(index, _)| !run.skip.contains(index))
            .collect();
        if !programs.is_empty() {
            failures.extend(run_batch(&reference, &programs, &inputs, stats));
        }
        done += n;
    }
    failures
}

/// Program `index` of a run and the inputs it ran on.
pub fn program_of(run: &Run, index: usize) -> (Program, Vec<Input>) {
    let mut rng = Rng::new(run.seed);
    let mut done = 0;
    loop {
        let n = run.per_file.min(run.programs.max(index + 1) - done);
        let programs: Vec<Program> = (0..n).map(|_| Program::generate(&mut rng)).collect();
        let inputs: Vec<Input> = (0..run.inputs).map(|_| Input::generate(&mut rng)).collect();
        if index < done + n {
            return (programs[index - done].clone(), inputs);
        }
        done += n;
    }
}

// ---------------------------------------------------------------------------------------------
// Robustness fuzzing

/// How a fuzzed probe file fared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Compiled and every program passed the verifier.
    Verified,
    /// The compiler gave diagnostics (and none of them is an internal error).
    Rejected,
    /// Compiled, but the verifier rejected a program: a compiler defect.
    VerifierRejected(String),
    /// The compiler panicked: a defect.
    Panic(String),
    /// A diagnostic says "internal error": a defect.
    InternalError(String),
    /// Compiled; the verifier was not consulted (not root).
    CompiledUnchecked,
}

/// Counts of a fuzz run.
#[derive(Clone, Debug, Default)]
pub struct FuzzStats {
    pub tried: usize,
    pub compiled: usize,
    pub verified: usize,
    pub rejected_by_compiler: usize,
    pub rejected_by_verifier: usize,
    pub panics: usize,
    pub internal_errors: usize,
}

impl FuzzStats {
    pub fn add(&mut self, v: &Verdict) {
        self.tried += 1;
        match v {
            Verdict::Verified => {
                self.compiled += 1;
                self.verified += 1;
            }
            Verdict::CompiledUnchecked => self.compiled += 1,
            Verdict::Rejected => self.rejected_by_compiler += 1,
            Verdict::VerifierRejected(_) => {
                self.compiled += 1;
                self.rejected_by_verifier += 1;
            }
            Verdict::Panic(_) => self.panics += 1,
            Verdict::InternalError(_) => {
                self.rejected_by_compiler += 1;
                self.internal_errors += 1;
            }
        }
    }

    pub fn defects(&self) -> usize {
        self.rejected_by_verifier + self.panics + self.internal_errors
    }
}

impl std::fmt::Display for FuzzStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "tried {}, compiled {}, verified {}, rejected-by-compiler {}, rejected-by-verifier {}, \
             panics {}, internal errors {}",
            self.tried,
            self.compiled,
            self.verified,
            self.rejected_by_compiler,
            self.rejected_by_verifier,
            self.panics,
            self.internal_errors
        )
    }
}

fn is_c_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Compiles `source` and, if `kernel`, loads it into the verifier.
pub fn fuzz_one(name: &str, source: &str, kernel: bool) -> Verdict {
    let compiled = match compile_caught(name, source) {
        Ok(p) => p,
        Err((true, msg)) => return Verdict::Panic(msg),
        Err((false, diags)) => {
            // Our internal errors start their message so; user text quoted in a message may not.
            if diags.contains(": error: internal error") {
                return Verdict::InternalError(diags);
            }
            return Verdict::Rejected;
        }
    };
    if !kernel {
        return Verdict::CompiledUnchecked;
    }
    let spec = ljbpf_cli::spec(&compiled);
    match ljbpf_runtime::check(spec) {
        Ok(rows) => {
            let bad: Vec<String> = rows
                .into_iter()
                .filter_map(|r| r.verdict.err().map(|e| format!("{}: {e}", r.name)))
                .collect();
            if bad.is_empty() {
                Verdict::Verified
            } else {
                Verdict::VerifierRejected(format!(
                    "{}\nlisting:\n{}",
                    bad.join("\n"),
                    compiled.listing
                ))
            }
        }
        Err(e) => {
            let mut message = format!("object does not load: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                let _ = write!(message, ": {cause}");
                source = cause.source();
            }
            // Name what the kernel most likely refused.
            for map in &compiled.maps {
                if !is_c_identifier(&map.name) {
                    let _ = write!(message, "\n[bad-name] map name {:?}", map.name);
                }
                if map.kind.keys() == ljbpf_build::core::map::Keys::Index {
                    let size = map.key.size();
                    if size != 4 {
                        let _ = write!(
                            message,
                            "\n[array-key] {} map {} has a {size}-byte key",
                            map.kind, map.name
                        );
                    }
                }
            }
            Verdict::VerifierRejected(message)
        }
    }
}

/// The corpus files (name, text) used as mutation seeds.
pub fn corpus() -> Vec<(String, String)> {
    let dir = crate::root().join("corpus");
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "lua"))
                .filter_map(|p| {
                    let text = std::fs::read_to_string(&p).ok()?;
                    Some((p.file_name()?.to_string_lossy().into_owned(), text))
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Fragments that are (mostly) valid inside a program function.
const FRAGMENTS: &[&str] = &[
    "local v = 1",
    "local v = pkt.ip.ttl",
    "local v = ntoh(pkt.ip.src)",
    "local v = skb.len",
    "local v = time()",
    "local v = pid_tgid()",
    "local v = 1LL",
    "local v = 0xffffffffffffffffULL",
    "local v = nil",
    "local v = true",
    "local v = 'str'",
    "local v = {}",
    "local v = 1.5",
    "local v = 2^70",
    "local v = -0",
    "local v = 1e300",
    "local v = 0/0",
    "v = v + 1",
    "v = v / 0",
    "v = v % 0",
    "v = -v",
    "v = bit.lshift(v, 70)",
    "v = v .. 'x'",
    "v = #v",
    "v = v()",
    "v = v.field",
    "v = v[1]",
    "v = not v",
    "v = v and 1 or 2",
    "v = ffi.new('uint8_t[16]')",
    "v = ffi.cast('uint32_t', v)",
    "if v then return 1 end",
    "if v == nil then return 0 end",
    "while v do v = nil end",
    "for k = 1, 10 do v = v + k end",
    "for k = 10, 1, -1 do v = v - k end",
    "for k = 1, v do end",
    "repeat v = v + 1 until v > 10",
    "do local q = v end",
    "goto done",
    "::done::",
    "return",
    "return v",
    "return v, v",
    "local a, b, c = 1, 2",
    "local t = m[v]",
    "m[v] = v",
    "m[1] = nil",
    "local t = m[1] if t then xadd(t, 1) end",
    "xadd(v, 1)",
    "print(v)",
    "perf_submit(skb, v)",
    "local s = comm()",
    "local r = load_bytes(0, 4)",
    "v = pkt.ip.tcp.dst_port",
    "v = pkt.ip6.dst_lo",
    "v = pkt.eth.nonexistent",
    "v = math.log2(v)",
    "v = hton(v)",
    "v = ntoh(v, 16)",
    "v = rand()",
    "v = cpu()",
    "v = uid_gid()",
    "v = stack_id(v)",
    "v = select('#', v)",
    "v = string.len('x')",
    "v = ...",
    "local function g() end",
    "error('boom')",
    "v = bit.band(v, 0xff, 0xf0)",
    "v = v ~>> 3",
    "v = v < 1LL",
];

/// Declarations for the fuzzed file's top level.
const DECLS: &[&str] = &[
    "local m = bpf.map('array', 16, 'uint32_t', 'uint64_t')",
    "local m = bpf.map('hash', 16, ffi.typeof('uint32_t'), ffi.typeof('uint64_t'))",
    "local m = bpf.map('percpu_array', 4)",
    "local m = bpf.map('lru_hash', 0, 'uint64_t', 'uint8_t')",
    "local m = bpf.map('hash', -1)",
    "local m = bpf.map('nonsense', 16)",
    "local m = bpf.map('array', 16, 'struct nope', 'uint64_t')",
    "local m = bpf.map('array', 1.5)",
    "local m = bpf.map('perf_event_array')",
    "local m = bpf.map()",
    "local m = bpf.map('hash', 16, 'uint8_t', 'double')",
    "local m = bpf.map('array', 16, 'uint32_t', 'char[16]')",
    "local m = bpf.map('hash', 65536, 'uint32_t', 'uint64_t')",
    "local m = 42",
    "local m = nil",
    "local m = {}",
    "ffi.cdef[[ struct s_t { uint32_t a; uint64_t b; char c[3]; }; ]]\nlocal m = bpf.map('hash', 8, 'struct s_t', 'struct s_t')",
    "ffi.cdef[[ struct broken { ]]\nlocal m = bpf.map('array', 4)",
    "local m = bpf.map('array', 4, ffi.typeof('int8_t'), ffi.typeof('int16_t'))",
];

/// Program declarations; `F` stands for the function.
const PROGRAM_DECLS: &[&str] = &[
    "bpf.socket(F)",
    "bpf.socket('lo', F)",
    "bpf(F)",
    "bpf.tracepoint('raw_syscalls/sys_enter', F)",
    "bpf.tracepoint('sched/sched_switch', F)",
    "bpf.tracepoint('no/such', F)",
    "bpf.tracepoint('malformed', F)",
    "bpf.kprobe('do_sys_open', F)",
    "bpf.kprobe('myprobe:do_sys_open', F, true)",
    "bpf.uprobe('/bin/sh:main', F)",
    "bpf.uprobe('nocolon', F)",
    "bpf.socket()",
    "bpf.socket(42)",
    "bpf.tracepoint(F)",
    "F",
];

/// A random probe file for the robustness fuzzer.
pub fn fuzz_source(rng: &mut Rng, corpus: &[(String, String)]) -> String {
    match rng.below(10) {
        // A valid generated program (sometimes huge).
        0 | 1 => {
            let p = Program::generate(rng);
            if rng.chance(1, 4) {
                let many: Vec<Program> = (0..2 + rng.below(6))
                    .map(|_| Program::generate(rng))
                    .collect();
                probe_file(&many)
            } else {
                p.probe_source()
            }
        }
        // Fragments in random declarations.
        2..=4 => fragment_file(rng),
        // A huge function.
        5 => huge_file(rng),
        // Byte mutations of a corpus file or a generated program.
        _ => {
            let base = if !corpus.is_empty() && rng.chance(2, 3) {
                rng.pick(corpus).1.clone()
            } else {
                Program::generate(rng).probe_source()
            };
            mutate(rng, &base)
        }
    }
}

fn fragment_file(rng: &mut Rng) -> String {
    let mut s = String::from("local ffi = require('ffi')\n");
    let decl: &str = DECLS[rng.below(DECLS.len())];
    s.push_str(decl);
    s.push('\n');
    let programs = 1 + rng.below(3);
    let mut names = Vec::new();
    for n in 0..programs {
        let mut body = String::new();
        let arg = *rng.pick(&["ctx", "skb", "", "ctx, extra"]);
        let _ = writeln!(body, "function ({arg})");
        let len = rng.below(12);
        let _ = writeln!(
            body,
            "  local v = {}",
            rng.pick(&["0", "pkt.ip.ttl", "1LL", "nil"])
        );
        for _ in 0..len {
            let depth = 1 + rng.below(2);
            let line = *rng.pick(FRAGMENTS);
            if rng.chance(1, 6) {
                let _ = writeln!(body, "{:depth$}if v then {line} end", "");
            } else {
                let _ = writeln!(body, "{:depth$}{line}", "");
            }
        }
        if rng.chance(3, 4) {
            let _ = writeln!(
                body,
                "  return {}",
                rng.pick(&["0", "1", "v", "nil", "true"])
            );
        }
        body.push_str("end");
        let decl = rng.pick(PROGRAM_DECLS).replace('F', &body);
        let _ = writeln!(s, "local p{n} = {decl}");
        names.push(format!("p{n}"));
    }
    s.push_str("return {\n");
    if rng.chance(3, 4) {
        s.push_str("  m = m,\n");
    }
    for name in names {
        let _ = writeln!(s, "  {name} = {name},");
    }
    if rng.chance(1, 8) {
        s.push_str("  junk = 42,\n");
    }
    s.push_str("}\n");
    s
}

fn huge_file(rng: &mut Rng) -> String {
    let mut s = String::from(
        "local out = bpf.map('array', 4, 'uint32_t', 'uint64_t')\nreturn {\n  out = out,\n  f = bpf.socket(function (skb)\n    local v = pkt.ip.ttl\n",
    );
    let lines = 100 + rng.below(1500);
    let kind = rng.below(4);
    for n in 0..lines {
        match kind {
            0 => {
                let _ = writeln!(s, "    v = v + {}", n % 7);
            }
            1 => {
                let _ = writeln!(s, "    local l{n} = v + {n}");
            }
            2 => {
                let _ = writeln!(s, "    if v == {n} then v = v * 3 end");
            }
            _ => {
                let _ = writeln!(s, "    out[{}] = v + {n}", n % 4);
            }
        }
    }
    s.push_str("    return v\n  end),\n}\n");
    s
}

/// Random byte-level edits of `text`.
pub fn mutate(rng: &mut Rng, text: &str) -> String {
    let mut bytes = text.as_bytes().to_vec();
    const TOKENS: &[&str] = &[
        "(", ")", "[", "]", "{", "}", "end", "then", "local", "nil", "1LL", "0.5", "..", "#",
        "not", "and", "or", "==", "~=", "<", ">>", "~", "%", "/", "0", "-1", "pkt", "skb", "ctx",
        "bpf", "function", "return", "ffi", "'", "\"", "\n", "--", "[[", "]]", "xadd", "bit.band",
        ",", ";", ":", "=", "if", "while", "for", "goto", "::l::", "\\", "\0", "\u{ff}",
    ];
    let edits = 1 + rng.below(6);
    for _ in 0..edits {
        if bytes.is_empty() {
            bytes.push(b'x');
        }
        let at = rng.below(bytes.len());
        match rng.below(6) {
            0 => {
                bytes.remove(at);
            }
            1 => {
                let len = (1 + rng.below(40)).min(bytes.len() - at);
                bytes.drain(at..at + len);
            }
            2 => bytes[at] = rng.next_u64() as u8,
            3 => {
                // Copy a span elsewhere.
                let len = (1 + rng.below(60)).min(bytes.len() - at);
                let span: Vec<u8> = bytes[at..at + len].to_vec();
                let to = rng.below(bytes.len());
                bytes.splice(to..to, span);
            }
            _ => {
                let tok = rng.pick(TOKENS).as_bytes();
                bytes.splice(at..at, tok.iter().copied());
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}
