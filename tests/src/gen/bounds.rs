//! Bounds of number-valued expressions: the generator keeps every number within
//! [`NUM_MAX`] so that LuaJIT's doubles and the probe's integers agree.

use std::collections::BTreeMap;

use super::*;

/// Inputs of every program: (name, type, bound of a number, probe text).
pub(crate) const INPUTS: &[(&str, Ty, u64, &str)] = &[
    ("a", Ty::Num, 1 << 31, "ntoh(pkt.ip.src) - 0x80000000"),
    ("b", Ty::Num, 1 << 31, "ntoh(pkt.ip.dst) - 0x80000000"),
    ("c", Ty::Num, (1 << 32) - 1, "ntoh(pkt.ip.tcp.seq_num)"),
    ("d", Ty::Num, 255, "pkt.ip.ttl"),
    ("x", Ty::U64, 0, "ntoh(pkt.ip6.dst_lo)"),
    ("i", Ty::I64, 0, "a * 0x100000000LL + c"),
    ("j", Ty::I64, 0, "b * 1LL"),
];

/// Bounds of number-valued variables.
pub(crate) type Env = BTreeMap<String, u64>;

pub(crate) fn input_env() -> Env {
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
        Expr::Ix(x) => x.bound(env)?,
        Expr::Log2(x) => {
            bound(x, env)?;
            63
        }
        Expr::Pkt(_) => 255,
    };
    (b <= NUM_MAX).then_some(b)
}

/// Whether LuaJIT's parser folds `e` to a number constant.
pub(crate) fn is_const(e: &Expr) -> bool {
    match e {
        Expr::Num(_) => true,
        Expr::Var(..)
        | Expr::Bit(..)
        | Expr::I64(_)
        | Expr::U64(_)
        | Expr::Ix(_)
        | Expr::Log2(_)
        | Expr::Pkt(_) => false,
        // Cdata literals are not folded; conservatively, everything else without a variable
        // or a call may be (`63 and 8` is folded to 8).
        e => e.children().iter().all(|c| is_const(c)),
    }
}

/// Bound analysis of a whole statement list (no loops: one forward pass where an assignment
/// only raises a variable's bound is sound). Returns false when some number may be inexact.
pub(crate) fn stmts_bounded(stmts: &[Stmt], env: &mut Env) -> bool {
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
            Stmt::Shape(sh) => {
                if sh.exprs().iter().any(|e| bound(e, env).is_none()) {
                    return false;
                }
            }
            Stmt::Ix(x) => {
                if !x.bounded(env) {
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
