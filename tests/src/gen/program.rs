//! The generated programs: types, expressions, statements, and their two renderings (probe
//! text for the compiler, reference text for LuaJIT).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::*;

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
    pub(crate) fn arith(l: Ty, r: Ty) -> Ty {
        if l == Ty::U64 || r == Ty::U64 {
            Ty::U64
        } else if l == Ty::I64 || r == Ty::I64 {
            Ty::I64
        } else {
            Ty::Num
        }
    }

    /// The tag the reference's `repr` gives values of this type.
    pub(crate) fn tag(self) -> char {
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
    pub(crate) fn name(self) -> &'static str {
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

    pub(crate) fn is_shift(self) -> bool {
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

    pub(crate) fn is_shift(self) -> bool {
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
    /// A run-time index or slice (`indexes.rs`).
    Ix(Box<IxExpr>),
    /// `math.log2(e)`: the probe language's integer logarithm (`ilog2` in the reference).
    Log2(Box<Expr>),
    /// `pkt[k]`: a packet byte at a constant offset, read where it is used (so the same byte
    /// is loaded again after map calls, in other branches, with other conversions).
    Pkt(u16),
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
            Expr::Ix(x) => x.ty(),
            Expr::Log2(_) | Expr::Pkt(_) => Ty::Num,
        }
    }

    /// Direct subexpressions.
    pub(crate) fn children(&self) -> Vec<&Expr> {
        match self {
            Expr::Var(..) | Expr::Num(_) | Expr::I64(_) | Expr::U64(_) | Expr::Pkt(_) => vec![],
            Expr::Neg(e) | Expr::NativeNot(e) | Expr::Not(e) | Expr::Log2(e) => vec![e],
            Expr::Bit(_, args) => args.iter().collect(),
            Expr::Arith(_, l, r)
            | Expr::Native(_, l, r)
            | Expr::Cmp(_, l, r)
            | Expr::And(l, r)
            | Expr::Or(l, r) => vec![l, r],
            Expr::Cond(c, t, e) => vec![c, t, e],
            Expr::Ix(x) => x.children(),
        }
    }

    pub(crate) fn children_mut(&mut self) -> Vec<&mut Expr> {
        match self {
            Expr::Var(..) | Expr::Num(_) | Expr::I64(_) | Expr::U64(_) | Expr::Pkt(_) => vec![],
            Expr::Neg(e) | Expr::NativeNot(e) | Expr::Not(e) | Expr::Log2(e) => vec![e],
            Expr::Bit(_, args) => args.iter_mut().collect(),
            Expr::Arith(_, l, r)
            | Expr::Native(_, l, r)
            | Expr::Cmp(_, l, r)
            | Expr::And(l, r)
            | Expr::Or(l, r) => vec![l, r],
            Expr::Cond(c, t, e) => vec![c, t, e],
            Expr::Ix(x) => x.children_mut(),
        }
    }

    pub(crate) fn size(&self) -> usize {
        1 + self.children().iter().map(|c| c.size()).sum::<usize>()
    }

    /// Lua text; `reference` spells `/` and `%` as `idiv`/`imod`.
    pub(crate) fn render(&self, reference: bool, s: &mut String) {
        match self {
            Expr::Var(name, _) => s.push_str(name),
            Expr::Pkt(k) => {
                let _ = write!(s, "pkt[{k}]");
            }
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
            Expr::Log2(e) => {
                s.push_str(if reference { "ilog2(" } else { "math.log2(" });
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
            Expr::Ix(x) => x.render(reference, s),
        }
    }

    pub fn text(&self, reference: bool) -> String {
        let mut s = String::new();
        self.render(reference, &mut s);
        s
    }
}

pub(crate) fn binary(s: &mut String, reference: bool, l: &Expr, op: &str, r: &Expr) {
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
    pub(crate) fn name(self) -> &'static str {
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
    /// A self-contained shape of everyday probe code (see [`Shape`]).
    Shape(Shape),
    /// A run-time index statement (`indexes.rs`).
    Ix(IxStmt),
}

/// One program function.
#[derive(Clone, Debug, PartialEq)]
pub struct Program {
    pub body: Vec<Stmt>,
    pub ret: Expr,
    /// The program kind it is compiled as.
    pub hook: Hook,
}

/// The packet program kinds a generated program runs as: the same function, the same packet
/// fields; only where the frame starts differs ([`Hook::packet`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Hook {
    /// `bpf.socket`: `BPF_LD_ABS` loads.
    Socket,
    /// `bpf.xdp`: direct packet access.
    Xdp,
    /// `bpf.tc`: direct packet access on an skb.
    Tc,
}

impl Hook {
    /// Every hook.
    pub const ALL: [Hook; 3] = [Hook::Socket, Hook::Xdp, Hook::Tc];

    /// The Lua constructor.
    pub fn constructor(self) -> &'static str {
        match self {
            Hook::Socket => "bpf.socket",
            Hook::Xdp => "bpf.xdp",
            Hook::Tc => "bpf.tc",
        }
    }

    /// What the program returns when a packet access falls outside the packet (a dissector
    /// read, a slice or a run-time slice) and when it returns nil or nothing: the kind's
    /// default verdict from the program-kind table, 0 for socket filters (whose `LD_ABS` ends
    /// the program with 0), `XDP_PASS` and `TC_ACT_OK`.
    pub fn default_verdict(self) -> u32 {
        match self {
            Hook::Socket | Hook::Tc => 0,
            Hook::Xdp => 2,
        }
    }

    /// The frame `BPF_PROG_TEST_RUN` gets for `input`: the kernel strips 14 bytes before a
    /// socket filter runs, while XDP and tc programs see the frame from its first byte, so
    /// theirs is [`Input::packet`] without the 14 filler bytes (the same dissector offsets).
    pub fn packet(self, input: &Input) -> Vec<u8> {
        let p = input.packet();
        match self {
            Hook::Socket => p,
            Hook::Xdp | Hook::Tc => p[14..].to_vec(),
        }
    }
}
impl Program {
    /// The program without its `lpm_trie` shapes (for the interpreter, whose maps match keys
    /// exactly).
    pub fn without_lpm(mut self) -> Program {
        fn strip(stmts: &mut Vec<Stmt>) {
            stmts.retain(|s| !matches!(s, Stmt::Shape(Shape::Lpm { .. })));
            for s in stmts {
                if let Stmt::If(arms, els) = s {
                    for (_, body) in arms {
                        strip(body);
                    }
                    if let Some(body) = els {
                        strip(body);
                    }
                }
            }
        }
        strip(&mut self.body);
        self
    }

    /// Whether the program may return before its last statement (a [`Shape::MaybeReturn`]).
    pub fn returns_early(&self) -> bool {
        fn walk(stmts: &[Stmt]) -> bool {
            stmts.iter().any(|s| match s {
                Stmt::Shape(Shape::MaybeReturn { .. }) => true,
                Stmt::If(arms, els) => {
                    arms.iter().any(|(_, body)| walk(body)) || els.as_deref().is_some_and(walk)
                }
                _ => false,
            })
        }
        walk(&self.body)
    }

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
                    Stmt::Shape(sh) => out.extend(sh.outs()),
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

    /// The reference: a Lua chunk returning `function (a, b, c, d, x, m, w, out)` (the
    /// packet dissector `pkt` is the reference's emulation, a global).
    pub fn reference_source(&self) -> String {
        format!(
            "{}return function (a, b, c, d, x, m, w, out)\n{}end\n",
            upvalue_strings(),
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
                    Stmt::Shape(sh) => 1 + sh.exprs().iter().map(|e| e.size()).sum::<usize>(),
                    Stmt::Ix(x) => x.size(),
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

pub(crate) fn render_stmts(
    stmts: &[Stmt],
    reference: bool,
    base: usize,
    indent: usize,
    s: &mut String,
) {
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
            Stmt::Shape(sh) => sh.render(reference, base, indent, s),
            Stmt::Ix(x) => x.render(reference, indent, s),
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

/// A probe file with `programs` as packet programs `p0`, `p1`, ... (of their hooks); program `n` writes `out`
/// slots `n * OUT_SLOTS ..`.
pub fn probe_file(programs: &[Program]) -> String {
    let mut s = format!(
        "-- Generated by ljbpf_tests::gen (LuaJIT-vs-kernel differential test).\n{}\
         local ffi = require('ffi')\n\
         ffi.cdef[[ {REC_CDEF} ]]\n\
         local out = bpf.map('array', {}, 'uint32_t', 'uint64_t')\n\
         local m = bpf.map('array', {MAP_LEN}, 'uint32_t', 'uint64_t')\n\
         local w = bpf.map('array', {MAP_LEN}, 'uint32_t', 'uint32_t')\n\
         local g = bpf.map('array', 1, 'uint32_t', 'struct ix_val')\n\
         ffi.cdef[[ {LPM_CDEF} ]]\n\
         local lpm = bpf.map('lpm_trie', {LPM_LEN}, 'struct lpm_key4', 'uint32_t')\n\
         return {{\n  out = out,\n  m = m,\n  w = w,\n  g = g,\n  lpm = lpm,\n",
        upvalue_strings(),
        programs.len().max(1) * OUT_SLOTS
    );
    for (n, p) in programs.iter().enumerate() {
        let _ = write!(
            s,
            "  p{n} = {}(function (skb)\n{}  end),\n",
            p.hook.constructor(),
            p.render_body(false, n * OUT_SLOTS, 4)
        );
    }
    s.push_str("}\n");
    s
}

/// The top-level string locals shapes compare with (probe file and reference alike).
fn upvalue_strings() -> String {
    let mut s = String::new();
    for (name, text) in UPVALUE_STRINGS {
        let _ = writeln!(s, "local {name} = {text}");
    }
    s
}
