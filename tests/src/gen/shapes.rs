//! Statement shapes of everyday probe code that the expression generator does not make:
//! values whose kind differs between paths (a local assigned on some paths and returned, `or`
//! defaults, a map lookup with a default, a map value summed into a number, a boolean or a
//! number), strings (literals, upvalues and table fields compared with packet slices, slices
//! with slices), the packet's edges (slices crossing the end, dissectors moved before the
//! start or past the end, loops bounded by `%` of a packet byte), and `lpm_trie` lookups and
//! updates. Each writes its own `out` slots and declares nothing the rest of the program
//! sees.
//!
//! The reference emulates the dissector over the same packet bytes (`pkt[i]`, `pkt(a, b)`,
//! `pkt + n`): a read outside the packet ends the run with the kind's default verdict,
//! keeping the outputs already written, as the kernel does.

use std::fmt::Write as _;

use super::generate::Gen;
use super::*;

/// Strings the probe file and the reference define at their top level: `(name, Lua text)`.
/// Some match the generated packet (the Ethernet type 0x0800, the IPv4 header's first bytes,
/// zero bytes of the TCP header), others do not.
pub const UPVALUE_STRINGS: &[(&str, &str)] = &[
    ("S2", r"'\8\0'"),
    ("S3", r"'\69\0\0'"),
    ("S5", r"'\0\0\0\0\0'"),
    ("S6", r"'\255\255\255\255\255\255'"),
    ("ST", r"{ ip = '\8\0\69', z = '\0\0\0\0', hi = '\200' }"),
];

/// The byte length of each string a shape may compare, with its Lua spelling.
const STRINGS: &[(&str, usize)] = &[
    ("S2", 2),
    ("S3", 3),
    ("S5", 5),
    ("S6", 6),
    ("ST.ip", 3),
    ("ST.z", 4),
    ("ST.hi", 1),
    (r"'\8\0'", 2),
    (r"'\0\0\0\0\0\0\0'", 7),
    (r"'\128'", 1),
];

/// The routes of the `lpm_trie` map `lpm` (`struct lpm_key4` keys, `uint32_t` values) at the
/// start of every run: `(prefix length, address, value)`. Nested prefixes of 10.1.2.3, one
/// that packet addresses (random bytes) often fall in (128.0.0.0/1), and 192.168.0.0/16.
pub const LPM_ROUTES: &[(u32, [u8; 4], u32)] = &[
    (8, [10, 0, 0, 0], 1),
    (16, [10, 1, 0, 0], 2),
    (24, [10, 1, 2, 0], 3),
    (32, [10, 1, 2, 3], 4),
    (16, [192, 168, 0, 0], 5),
    (1, [128, 0, 0, 0], 6),
];

/// The key type of the `lpm` map (declared in the probe file and in the reference).
pub const LPM_CDEF: &str = "struct lpm_key4 { uint32_t prefixlen; uint8_t addr[4]; };";

/// Entries the `lpm` map holds (a run adds at most a few to the routes).
pub const LPM_LEN: usize = 16;

/// The reference's `lpm` map: the kernel's longest-prefix match (kernel/bpf/lpm_trie.c) over
/// a list of routes, reset by `lpm_reset()` before each run. A lookup finds the entry with the
/// longest prefix not longer than the key's whose first bits equal the key's; an update
/// replaces the entry with the key's prefix length and prefix, or adds one while there is room.
pub(crate) fn lpm_prelude() -> String {
    let mut routes = String::new();
    for (plen, a, v) in LPM_ROUTES {
        let addr = u32::from_be_bytes(*a);
        let _ = write!(routes, "{{ plen = {plen}, addr = {addr}, val = {v} }}, ");
    }
    format!(
        r#"
ffi.cdef[[ {LPM_CDEF} ]]
local LPM = {{}}
function lpm_reset() LPM = {{ {routes}}} end
local function lpm_bits(k)
  return ((k.addr[0] * 256 + k.addr[1]) * 256 + k.addr[2]) * 256 + k.addr[3], tonumber(k.prefixlen)
end
local function lpm_prefix(a, n)
  if n == 0 then return 0 end
  return math.floor(a / 2 ^ (32 - n))
end
lpm = setmetatable({{}}, {{
  __index = function(_, k)
    local a, n = lpm_bits(k)
    local best
    for _, e in ipairs(LPM) do
      if e.plen <= n and lpm_prefix(a, e.plen) == lpm_prefix(e.addr, e.plen)
        and (not best or e.plen > best.plen) then best = e end
    end
    if not best then return nil end
    local v = ffi.new('uint32_t[1]')
    v[0] = best.val
    return v
  end,
  __newindex = function(_, k, v)
    local a, n = lpm_bits(k)
    if n > 32 then return end
    for _, e in ipairs(LPM) do
      if e.plen == n and lpm_prefix(a, n) == lpm_prefix(e.addr, n) then e.val = v; return end
    end
    if #LPM < {LPM_LEN} then LPM[#LPM + 1] = {{ plen = n, addr = a, val = v }} end
  end,
}})
"#
    )
}

/// A byte of an LPM key: a constant, or a packet byte at an offset.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum KeyByte {
    Const(u8),
    Pkt(usize),
}

impl KeyByte {
    fn text(self) -> String {
        match self {
            KeyByte::Const(b) => b.to_string(),
            KeyByte::Pkt(o) => format!("pkt[{o}]"),
        }
    }
}

/// One shape.
#[derive(Clone, Debug, PartialEq)]
pub enum Shape {
    /// `local v; if cond then v = value end`, then one of: `out = v or default`;
    /// `if v then out = v else out = default end`; `if v == nil then ... end`;
    /// `local n = v or nil; if not n then out = default else out = n end`.
    Maybe {
        var: String,
        cond: Expr,
        value: Expr,
        default: Expr,
        slot: usize,
        form: u8,
    },
    /// `local v = init; local r = m[key]; if r then v = v + r end` (a number, or a uint64 cdata
    /// when the entry is there), then `v + 0ULL`, `(v < rhs) and 1 or 0`, `v / div + 0ULL`.
    MixedSum {
        var: String,
        init: Expr,
        key: Expr,
        rhs: Expr,
        div: i64,
        slots: [usize; 3],
    },
    /// `local q = cmp or value; if q == true then out = 1000 else out = q end`.
    BoolOr {
        var: String,
        cmp: Expr,
        value: Expr,
        slot: usize,
    },
    /// `if pkt(off, off + len) == string then out = 1 else out = 2 end`.
    Slice {
        off: usize,
        len: usize,
        string: &'static str,
        slot: usize,
    },
    /// `out = (pkt + (d - k) * mult)[idx]`: possibly before the start or past the end.
    Moved {
        k: i64,
        mult: i64,
        idx: i64,
        slot: usize,
    },
    /// `local v; if cond then v = value end; if ret then return v end`: the program returns a
    /// number or nil (the kind's default, as `return` with no value gives).
    MaybeReturn {
        var: String,
        cond: Expr,
        value: Expr,
        ret: Expr,
    },
    /// `out = (m[key] or default) + 0ULL` (a uint64 cdata or a number) or `out = w[key] or
    /// default` (a `uint32_t` value reads as a number): a map lookup with a default, `nil`
    /// when the key is past the array's end.
    MapOr {
        map: MapName,
        key: Expr,
        default: Expr,
        slot: usize,
    },
    /// `if pkt(o1, o1 + l1) == pkt(o2, o2 + l2) then out = 1 else out = 2 end`.
    SliceSlice {
        o1: usize,
        l1: usize,
        o2: usize,
        l2: usize,
        slot: usize,
    },
    /// An `lpm_trie` lookup with a key of `plen` bits made of `addr`, `out = v[0]` or 1000
    /// when no route matches; then, with `update`, `lpm[k] = value` at another prefix length
    /// and the lookup again into a second slot.
    Lpm {
        var: String,
        plen: u32,
        addr: [KeyByte; 4],
        update: Option<(u32, u32)>,
        slots: [usize; 2],
    },
    /// A Collatz loop on a packet byte (`while v > lo and k < limit do if v % 2 == 0 then v = v
    /// / 2 else v = 3 * v + 1 end; k = k + 1 end`: a bound learnt from the condition makes the
    /// division and modulo a shift and a mask; the counter bounds the loop, so the byte may stay
    /// unknown to the verifier), then a loop on constants only (a numeric `for` from `from` to
    /// `to` by `step`, or a `repeat`), which the compiler runs itself; `out = v + k * 1000 + s`.
    /// `odd_first` tests `v % 2 == 1` (the tripling arm first); `down` counts `k` down from
    /// `limit` to 0 instead (`k > 0`, `k = k - 1`). `uncounted`: no counter in the condition
    /// and `v = v - 1` for the odd arm, so the halving itself ends the loop (the verifier must
    /// follow it exactly).
    Collatz {
        var: String,
        at: usize,
        lo: i64,
        limit: i64,
        odd_first: bool,
        down: bool,
        uncounted: bool,
        from: i64,
        to: i64,
        step: i64,
        repeat: bool,
        slot: usize,
    },
    /// `local s = 0; for i = 0, pkt[at] % m do s = s + pkt[i + base] end; out = s`; with
    /// `sums`, bench/lua/csum.lua's body instead: two running sums and a count of one byte
    /// value, more values live across the packet load than callee-saved registers.
    ModLoop {
        var: String,
        at: usize,
        m: i64,
        base: usize,
        sums: bool,
        slot: usize,
    },
    /// A walk over length-prefixed labels, as a DNS name is read: `local off = start; for _ =
    /// 1, n do local l = pkt[off + base]; if l == 0 or l >= lim then break end; off = off + l
    /// + step end; out = off * 1000 + pkt[off + base]`. The offset grows by a packet byte per
    /// iteration (a bound the compiler learns from the loop counter), or shrinks below the
    /// packet's start with a negative `step`, where the read ends the run.
    LabelWalk {
        var: String,
        start: i64,
        n: i64,
        lim: i64,
        step: i64,
        base: usize,
        slot: usize,
    },
}

impl Shape {
    /// The `out` slots it writes, with their types.
    pub fn outs(&self) -> Vec<(usize, Ty)> {
        match self {
            Shape::Maybe { value, slot, .. } => vec![(*slot, value.ty())],
            Shape::MixedSum { slots, .. } => {
                vec![
                    (slots[0], Ty::U64),
                    (slots[1], Ty::Num),
                    (slots[2], Ty::U64),
                ]
            }
            Shape::MaybeReturn { .. } => vec![],
            Shape::Lpm {
                update: None,
                slots,
                ..
            } => vec![(slots[0], Ty::Num)],
            Shape::Lpm { slots, .. } => vec![(slots[0], Ty::Num), (slots[1], Ty::Num)],
            Shape::MapOr {
                map: MapName::M,
                slot,
                ..
            } => vec![(*slot, Ty::U64)],
            Shape::MapOr {
                map: MapName::W,
                slot,
                ..
            }
            | Shape::SliceSlice { slot, .. }
            | Shape::BoolOr { slot, .. }
            | Shape::Slice { slot, .. }
            | Shape::Moved { slot, .. }
            | Shape::ModLoop { slot, .. }
            | Shape::LabelWalk { slot, .. }
            | Shape::Collatz { slot, .. } => vec![(*slot, Ty::Num)],
        }
    }

    /// Its expressions (for bounds and shrinking).
    pub fn exprs_mut(&mut self) -> Vec<&mut Expr> {
        match self {
            Shape::Maybe {
                cond,
                value,
                default,
                ..
            } => vec![cond, value, default],
            Shape::MixedSum { init, key, rhs, .. } => vec![init, key, rhs],
            Shape::BoolOr { cmp, value, .. } => vec![cmp, value],
            Shape::MaybeReturn {
                cond, value, ret, ..
            } => vec![cond, value, ret],
            Shape::MapOr { key, default, .. } => vec![key, default],
            _ => vec![],
        }
    }

    /// Its expressions.
    pub fn exprs(&self) -> Vec<&Expr> {
        match self {
            Shape::Maybe {
                cond,
                value,
                default,
                ..
            } => vec![cond, value, default],
            Shape::MixedSum { init, key, rhs, .. } => vec![init, key, rhs],
            Shape::BoolOr { cmp, value, .. } => vec![cmp, value],
            Shape::MaybeReturn {
                cond, value, ret, ..
            } => vec![cond, value, ret],
            Shape::MapOr { key, default, .. } => vec![key, default],
            _ => vec![],
        }
    }

    /// Lua text, one statement per line at `indent`.
    pub(crate) fn render(&self, reference: bool, base: usize, indent: usize, s: &mut String) {
        let pad = "";
        let out = |slot: &usize| {
            if reference {
                format!("out[{slot}]")
            } else {
                format!("out[{}]", base + slot)
            }
        };
        let t = |e: &Expr| e.text(reference);
        match self {
            Shape::Maybe {
                var,
                cond,
                value,
                default,
                slot,
                form,
            } => {
                let o = out(slot);
                let _ = writeln!(s, "{pad:indent$}local {var}");
                let _ = writeln!(
                    s,
                    "{pad:indent$}if {} then {var} = {} end",
                    t(cond),
                    t(value)
                );
                let _ = match form {
                    0 => writeln!(s, "{pad:indent$}{o} = {var} or {}", t(default)),
                    1 => writeln!(
                        s,
                        "{pad:indent$}if {var} then {o} = {var} else {o} = {} end",
                        t(default)
                    ),
                    2 => writeln!(
                        s,
                        "{pad:indent$}if {var} == nil then {o} = {} else {o} = {var} end",
                        t(default)
                    ),
                    _ => writeln!(
                        s,
                        "{pad:indent$}local {var}n = {var} or nil\n\
                         {pad:indent$}if not {var}n then {o} = {} else {o} = {var}n end",
                        t(default)
                    ),
                };
            }
            Shape::MixedSum {
                var,
                init,
                key,
                rhs,
                div,
                slots,
            } => {
                let _ = writeln!(s, "{pad:indent$}local {var} = {}", t(init));
                let _ = writeln!(s, "{pad:indent$}local {var}_r = m[{}]", t(key));
                let _ = writeln!(
                    s,
                    "{pad:indent$}if {var}_r then {var} = {var} + {var}_r end"
                );
                let _ = writeln!(s, "{pad:indent$}{} = {var} + 0ULL", out(&slots[0]));
                let _ = writeln!(
                    s,
                    "{pad:indent$}{} = ({var} < {}) and 1 or 0",
                    out(&slots[1]),
                    t(rhs)
                );
                let q = if reference {
                    format!("idiv({var}, {div})")
                } else {
                    format!("{var} / {div}")
                };
                let _ = writeln!(s, "{pad:indent$}{} = {q} + 0ULL", out(&slots[2]));
            }
            Shape::BoolOr {
                var,
                cmp,
                value,
                slot,
            } => {
                let o = out(slot);
                let _ = writeln!(s, "{pad:indent$}local {var} = {} or {}", t(cmp), t(value));
                let _ = writeln!(
                    s,
                    "{pad:indent$}if {var} == true then {o} = 1000 else {o} = {var} end"
                );
            }
            Shape::Slice {
                off,
                len,
                string,
                slot,
            } => {
                let o = out(slot);
                let _ = writeln!(
                    s,
                    "{pad:indent$}if pkt({off}, {}) == {string} then {o} = 1 else {o} = 2 end",
                    off + len
                );
            }
            Shape::Moved { k, mult, idx, slot } => {
                let _ = writeln!(
                    s,
                    "{pad:indent$}{} = (pkt + (d - {k}) * ({mult}))[{idx}]",
                    out(slot)
                );
            }
            Shape::MaybeReturn {
                var,
                cond,
                value,
                ret,
            } => {
                let _ = writeln!(s, "{pad:indent$}local {var}");
                let _ = writeln!(
                    s,
                    "{pad:indent$}if {} then {var} = {} end",
                    t(cond),
                    t(value)
                );
                let _ = writeln!(s, "{pad:indent$}if {} then return {var} end", t(ret));
            }
            Shape::MapOr {
                map,
                key,
                default,
                slot,
            } => {
                let o = out(slot);
                let (m, k, d) = (map.name(), t(key), t(default));
                let _ = match map {
                    MapName::M => writeln!(s, "{pad:indent$}{o} = ({m}[{k}] or {d}) + 0ULL"),
                    MapName::W => writeln!(s, "{pad:indent$}{o} = {m}[{k}] or {d}"),
                };
            }
            Shape::SliceSlice {
                o1,
                l1,
                o2,
                l2,
                slot,
            } => {
                let o = out(slot);
                let _ = writeln!(
                    s,
                    "{pad:indent$}if pkt({o1}, {}) == pkt({o2}, {}) then {o} = 1 else {o} = 2 end",
                    o1 + l1,
                    o2 + l2
                );
            }
            Shape::Lpm {
                var,
                plen,
                addr,
                update,
                slots,
            } => {
                let _ = writeln!(s, "{pad:indent$}local {var} = ffi.new('struct lpm_key4')");
                let _ = writeln!(s, "{pad:indent$}{var}.prefixlen = {plen}");
                for (n, b) in addr.iter().enumerate() {
                    let _ = writeln!(s, "{pad:indent$}{var}.addr[{n}] = {}", b.text());
                }
                let mut lookup = |slot: &usize, v: &str| {
                    let o = out(slot);
                    let _ = writeln!(s, "{pad:indent$}local {v} = lpm[{var}]");
                    let _ = writeln!(
                        s,
                        "{pad:indent$}if {v} then {o} = {v}[0] else {o} = 1000 end"
                    );
                };
                lookup(&slots[0], &format!("{var}_v"));
                if let Some((plen2, value)) = update {
                    let _ = writeln!(s, "{pad:indent$}{var}.prefixlen = {plen2}");
                    let _ = writeln!(s, "{pad:indent$}lpm[{var}] = {value}");
                    let mut lookup = |slot: &usize, v: &str| {
                        let o = out(slot);
                        let _ = writeln!(s, "{pad:indent$}local {v} = lpm[{var}]");
                        let _ = writeln!(
                            s,
                            "{pad:indent$}if {v} then {o} = {v}[0] else {o} = 1000 end"
                        );
                    };
                    lookup(&slots[1], &format!("{var}_w"));
                }
            }
            Shape::Collatz {
                var,
                at,
                lo,
                limit,
                odd_first,
                down,
                uncounted,
                from,
                to,
                step,
                repeat,
                slot,
            } => {
                let (k0, test, next) = if *down {
                    (*limit, format!("{var}_k > 0"), format!("{var}_k - 1"))
                } else {
                    (0, format!("{var}_k < {limit}"), format!("{var}_k + 1"))
                };
                let _ = writeln!(s, "{pad:indent$}local {var} = pkt[{at}]");
                let _ = writeln!(s, "{pad:indent$}local {var}_k = {k0}");
                let _ = if *uncounted {
                    writeln!(s, "{pad:indent$}while {var} > {lo} do")
                } else {
                    writeln!(s, "{pad:indent$}while {var} > {lo} and {test} do")
                };
                let (half, triple) = (
                    format!("{var} = {var} / 2"),
                    if *uncounted {
                        format!("{var} = {var} - 1")
                    } else {
                        format!("{var} = 3 * {var} + 1")
                    },
                );
                let _ = if *odd_first {
                    writeln!(
                        s,
                        "{pad:indent$}  if {var} % 2 == 1 then {triple} else {half} end"
                    )
                } else {
                    writeln!(
                        s,
                        "{pad:indent$}  if {var} % 2 == 0 then {half} else {triple} end"
                    )
                };
                let _ = writeln!(s, "{pad:indent$}  {var}_k = {next}");
                let _ = writeln!(s, "{pad:indent$}end");
                let _ = writeln!(s, "{pad:indent$}local {var}_s = 0");
                if *repeat {
                    let _ = writeln!(
                        s,
                        "{pad:indent$}repeat {var}_s = {var}_s + {} until {var}_s >= {to}",
                        step.abs()
                    );
                } else {
                    let _ = writeln!(
                        s,
                        "{pad:indent$}for i = {from}, {to}, {step} do {var}_s = {var}_s + i * 100 end"
                    );
                }
                let _ = writeln!(
                    s,
                    "{pad:indent$}{} = {var} + {var}_k * 1000 + {var}_s",
                    out(slot)
                );
            }
            Shape::ModLoop {
                var,
                at,
                m,
                base: b,
                sums: true,
                slot,
            } => {
                let _ = writeln!(s, "{pad:indent$}local {var}, {var}t, {var}c = 0, 0, 0");
                let _ = writeln!(s, "{pad:indent$}for i = 0, pkt[{at}] % {m} do");
                let _ = writeln!(s, "{pad:indent$}  local {var}b = pkt[i + {b}]");
                let _ = writeln!(s, "{pad:indent$}  {var} = {var} + {var}b");
                let _ = writeln!(s, "{pad:indent$}  {var}t = {var}t + {var}");
                let _ = writeln!(
                    s,
                    "{pad:indent$}  if {var}b == 65 then {var}c = {var}c + 1 end"
                );
                let _ = writeln!(s, "{pad:indent$}end");
                let _ = writeln!(
                    s,
                    "{pad:indent$}{} = {var} + {var}t * 3 + {var}c * 1000",
                    out(slot)
                );
            }
            Shape::ModLoop {
                var,
                at,
                m,
                base: b,
                sums: false,
                slot,
            } => {
                let _ = writeln!(s, "{pad:indent$}local {var} = 0");
                let _ = writeln!(
                    s,
                    "{pad:indent$}for i = 0, pkt[{at}] % {m} do {var} = {var} + pkt[i + {b}] end"
                );
                let _ = writeln!(s, "{pad:indent$}{} = {var}", out(slot));
            }
            Shape::LabelWalk {
                var,
                start,
                n,
                lim,
                step,
                base: b,
                slot,
            } => {
                let _ = writeln!(s, "{pad:indent$}local {var} = {start}");
                let _ = writeln!(s, "{pad:indent$}for _ = 1, {n} do");
                let _ = writeln!(s, "{pad:indent$}  local {var}_l = pkt[{var} + {b}]");
                let _ = writeln!(
                    s,
                    "{pad:indent$}  if {var}_l == 0 or {var}_l >= {lim} then break end"
                );
                let _ = writeln!(s, "{pad:indent$}  {var} = {var} + {var}_l + {step}");
                let _ = writeln!(s, "{pad:indent$}end");
                let _ = writeln!(
                    s,
                    "{pad:indent$}{} = {var} * 1000 + pkt[{var} + {b}]",
                    out(slot)
                );
            }
        }
    }
}

impl Gen<'_> {
    /// A random shape writing fresh `out` slots, if enough are left.
    pub(crate) fn shape(&mut self) -> Option<Shape> {
        let which = self.rng.below(12);
        let need = match which {
            1 => 3,
            6 => 0,
            9 => 2,
            _ => 1,
        };
        if self.next_slot + need > OUT_SLOTS {
            return None;
        }
        let slot = self.next_slot;
        self.next_slot += need;
        self.next_var += 1;
        let var = format!("k{}", self.next_var);
        Some(match which {
            0 => {
                let ty = *self.rng.pick(&[Ty::Num, Ty::Num, Ty::I64, Ty::U64]);
                Shape::Maybe {
                    var,
                    cond: self.expr(Ty::Bool, 2),
                    value: self.expr(ty, 2),
                    default: self.expr(ty, 1),
                    slot,
                    form: self.rng.below(4) as u8,
                }
            }
            1 => Shape::MixedSum {
                var,
                init: self.expr(Ty::Num, 2),
                key: self.key(),
                rhs: self.expr(Ty::Num, 1),
                div: *self.rng.pick(&[1, 2, 3, 7, 1000]),
                slots: [slot, slot + 1, slot + 2],
            },
            2 => Shape::BoolOr {
                var,
                cmp: self.expr(Ty::Bool, 2),
                value: self.expr(Ty::Num, 2),
                slot,
            },
            3 => {
                let (string, n) = *self.rng.pick(STRINGS);
                let len = if self.rng.chance(3, 4) {
                    n
                } else {
                    1 + self.rng.below(6)
                };
                let off = *self
                    .rng
                    .pick(&[0, 6, 12, 14, 20, 26, 40, 68, 69, 70, 71, 72, 73]);
                Shape::Slice {
                    off,
                    len,
                    string,
                    slot,
                }
            }
            4 => Shape::Moved {
                k: *self.rng.pick(&[0, 1, 10, 64, 128, 255]),
                mult: *self.rng.pick(&[1, 2, -1, 8192, 65536, -65536]),
                idx: *self.rng.pick(&[0, 1, 20, 40, 73, 74]),
                slot,
            },
            6 => Shape::MaybeReturn {
                var,
                cond: self.expr(Ty::Bool, 2),
                value: self.expr(Ty::Num, 2),
                ret: self.expr(Ty::Bool, 1),
            },
            7 => Shape::MapOr {
                map: *self.rng.pick(&[MapName::M, MapName::W]),
                key: self.key(),
                default: self.expr(Ty::Num, 1),
                slot,
            },
            8 => {
                // Equal fields (the two TCP port bytes' zeros, the IPv4 addresses' halves),
                // unequal ones, lengths that differ, and slices crossing the packet's end.
                let offs = [0, 2, 12, 26, 30, 34, 36, 40, 66, 70, 72];
                let l1 = 1 + self.rng.below(7);
                let l2 = if self.rng.chance(3, 4) {
                    l1
                } else {
                    1 + self.rng.below(7)
                };
                Shape::SliceSlice {
                    o1: *self.rng.pick(&offs),
                    l1,
                    o2: *self.rng.pick(&offs),
                    l2,
                    slot,
                }
            }
            9 => {
                let mut byte = |n: usize| {
                    if self.rng.chance(1, 3) {
                        // The IPv4 source and destination addresses (random bytes).
                        KeyByte::Pkt(26 + n + 4 * self.rng.below(2))
                    } else {
                        KeyByte::Const(*self.rng.pick(&[10, 1, 2, 3, 0, 192, 168, 200]))
                    }
                };
                let addr = [byte(0), byte(1), byte(2), byte(3)];
                let plens = [0, 1, 8, 12, 16, 24, 31, 32];
                let plen = *self.rng.pick(&plens);
                let update = self
                    .rng
                    .chance(1, 2)
                    .then(|| (*self.rng.pick(&plens), 7 + self.rng.below(100) as u32));
                Shape::Lpm {
                    var,
                    plen,
                    addr,
                    update,
                    slots: [slot, slot + 1],
                }
            }
            10 => {
                let (from, to, step) =
                    *self
                        .rng
                        .pick(&[(1, 10, 1), (10, 1, -3), (0, 63, 2), (5, 4, 1), (-20, 20, 7)]);
                Shape::Collatz {
                    var,
                    at: *self.rng.pick(&[14, 22, 23, 30, 41]),
                    lo: *self.rng.pick(&[0, 1, 2]),
                    limit: *self.rng.pick(&[8, 64]),
                    odd_first: self.rng.chance(1, 2),
                    down: self.rng.chance(1, 3),
                    uncounted: self.rng.chance(1, 3),
                    from,
                    to,
                    step,
                    repeat: self.rng.chance(1, 4),
                    slot,
                }
            }
            11 => Shape::LabelWalk {
                var,
                start: *self.rng.pick(&[0, 2, 12, 30]),
                n: *self.rng.pick(&[1, 3, 10, 40]),
                lim: *self.rng.pick(&[0x10, 0x40, 0xc0, 0x100]),
                step: *self.rng.pick(&[1, 1, 0, -1, -200]),
                base: *self.rng.pick(&[0, 14, 22, 40]),
                slot,
            },
            _ => Shape::ModLoop {
                var,
                at: *self.rng.pick(&[14, 22, 30, 41]),
                m: *self.rng.pick(&[3, 7, 8, 16]),
                base: *self.rng.pick(&[0, 10, 58, 60, 64]),
                sums: self.rng.chance(1, 2),
                slot,
            },
        })
    }
}
