//! Jump threading (before register allocation): an edge into a conditional jump on which the
//! facts decide the condition goes straight to where the condition sends it.
//!
//! Lowering computes `a == K or b == L` as a value and then tests it: a 0/1 temporary set on
//! two paths and compared with 0 where they join (`t = 0; if x != K goto J; t = 1; J: if t != 0
//! goto Then`). At the join the temporary is unknown, but on each incoming edge it is a
//! constant, so each edge is sent on (`if x != K goto Else; goto Then`), the test becomes
//! unreachable and the temporary dead. The same holds for `and`/`or` values, `not`, and
//! comparisons whose outcome a path has already fixed.

use ljbpf_core::insn::{Insn, Label};

use super::code::R;
use super::code::{Rec, VCode};
use super::facts::{analyse, sensitive, taken, transfer, walk2};
use super::jumps::drop_dead;

/// The label bound at instruction `at`, made if there is none.
fn label_at(code: &mut VCode, at: usize) -> Label {
    match code.labels.iter().position(|l| *l == Some(at)) {
        Some(l) => Label(l as u32),
        None => {
            code.labels.push(Some(at));
            Label(code.labels.len() as u32 - 1)
        }
    }
}

/// One round; whether it changed anything.
fn round(code: &mut VCode) -> bool {
    // A condition on a value whose range the verifier needs (a packet offset after a modulo)
    // is threaded only where the verifier would know the outcome too: its bounds check stays.
    let facts = analyse(code, true);
    let seen = analyse(code, false);
    let sens = sensitive(code, true);
    let n = code.insns.len();
    // Jumps to send elsewhere, and fall-throughs to replace by a jump after the instruction.
    // Each found as (instruction, whether on its fall-through edge, the destination: a label,
    // or an instruction that needs one), in order.
    let mut found: Vec<(usize, bool, Result<Label, usize>)> = Vec::new();
    walk2(code, &facts, &seen, |p, st, vst| {
        let insn = code.insns[p].insn;
        if code.insns[p].reloc.is_some() {
            return;
        }
        let mut edges: Vec<(usize, bool)> = Vec::new();
        if !insn.is_terminator() && p + 1 < n {
            edges.push((p + 1, true));
        }
        if let Some(t) = code.target_index(&insn) {
            edges.push((t, false));
        }
        // Only an edge into a conditional jump can be threaded: the state after `p` is made
        // only then (a copy per instruction would cost instructions × registers).
        edges.retain(|&(j, _)| matches!(code.insns.get(j).map(|r| r.insn), Some(Insn::Jmp { .. })));
        if edges.is_empty() {
            return;
        }
        let (mut st, mut vst) = (st.clone(), vst.clone());
        transfer(&insn, &mut st, true);
        transfer(&insn, &mut vst, false);
        for (j, fallthrough) in edges {
            let Some(jump) = code.insns.get(j).map(|r| r.insn) else {
                continue;
            };
            let needed = match jump {
                Insn::Jmp { dst: R::V(v), .. } => sens[v.0 as usize],
                _ => true,
            };
            let Some(go) =
                taken(&jump, &st).filter(|&go| !needed || taken(&jump, &vst) == Some(go))
            else {
                continue;
            };
            let dest_index = if go {
                code.target_index(&jump)
            } else {
                Some(j + 1)
            };
            let Some(dest_index) = dest_index.filter(|&d| d != j && d <= n) else {
                continue;
            };
            let dest = match (go, jump.target()) {
                (true, Some(l)) => Ok(l),
                _ => Err(dest_index),
            };
            found.push((p, fallthrough, dest));
        }
    });
    let mut retarget: Vec<(usize, Label)> = Vec::new();
    let mut insert: Vec<Option<Label>> = vec![None; n];
    for (p, fallthrough, dest) in found {
        let dest = dest.unwrap_or_else(|at| label_at(code, at));
        if fallthrough {
            insert[p] = Some(dest);
        } else {
            retarget.push((p, dest));
        }
    }
    if retarget.is_empty() && insert.iter().all(Option::is_none) {
        return false;
    }
    for (p, dest) in retarget {
        match &mut code.insns[p].insn {
            Insn::Ja { target } | Insn::Jmp { target, .. } => *target = dest,
            _ => {}
        }
    }
    let old = std::mem::take(&mut code.insns);
    let mut new_index = vec![0usize; n + 1];
    for (i, rec) in old.into_iter().enumerate() {
        new_index[i] = code.insns.len();
        let line = rec.line;
        code.insns.push(rec);
        if let Some(dest) = insert[i] {
            code.insns.push(Rec::new(Insn::Ja { target: dest }, line));
        }
    }
    new_index[n] = code.insns.len();
    for l in code.labels.iter_mut() {
        *l = l.map(|i| new_index[i]);
    }
    true
}

/// Runs the pass in place.
pub fn run(code: &mut VCode) {
    for _ in 0..8 {
        if !round(code) {
            break;
        }
        drop_dead(code);
    }
}
