//! The shrinker: reduces a failing program while the failure persists.

use super::*;

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
pub(crate) fn candidates(p: &Program) -> Vec<Program> {
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
            hook: p.hook,
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
                    hook: p.hook,
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
                    hook: p.hook,
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

pub(crate) fn count_stmts(list: &[Stmt]) -> usize {
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
pub(crate) fn edit_stmt(
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
pub(crate) fn exprs_mut(p: &mut Program) -> Vec<&mut Expr> {
    fn walk<'a>(list: &'a mut [Stmt], out: &mut Vec<&'a mut Expr>) {
        for s in list {
            match s {
                Stmt::Local(_, e) | Stmt::Assign(_, e) | Stmt::Out(_, e) => out.push(e),
                Stmt::MapWrite(_, k, v) => {
                    out.push(k);
                    out.push(v);
                }
                Stmt::Ix(x) => out.extend(x.exprs_mut()),
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

pub(crate) fn count_exprs(p: &Program) -> usize {
    exprs_mut(&mut p.clone()).len()
}

pub(crate) fn expr_at(p: &Program, slot: usize) -> Expr {
    let mut q = p.clone();
    exprs_mut(&mut q)[slot].clone()
}

pub(crate) fn with_expr_mut(p: &mut Program, slot: &mut usize, f: &mut dyn FnMut(&mut Expr)) {
    let mut all = exprs_mut(p);
    f(all[*slot]);
}

/// The `k`-th node in pre-order.
pub(crate) fn node_at(e: &Expr, k: usize) -> &Expr {
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

pub(crate) fn replace_node(e: &mut Expr, k: &mut usize, with: &Expr) -> bool {
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
