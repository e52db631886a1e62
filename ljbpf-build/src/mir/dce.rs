//! Dead-code elimination: removes pure instructions whose results are never read (moves into a
//! slot's register on an edge where the slot is dead, computations nobody uses), until none is
//! left.

use ljbpf_core::insn::Insn;

use super::code::{uses_defs, VCode, R};
use super::liveness::liveness;

/// Whether removing the instruction is safe when nothing reads what it defines.
fn is_pure(insn: &Insn<R>) -> bool {
    matches!(
        insn,
        Insn::Alu64 { .. }
            | Insn::Alu32 { .. }
            | Insn::Sext32 { .. }
            | Insn::ToBe { .. }
            | Insn::LdImm64 { .. }
            | Insn::Ldx { .. }
    )
}

/// Runs the pass in place.
pub fn run(code: &mut VCode) {
    loop {
        let live_out = liveness(code).1;
        let mut keep = vec![true; code.insns.len()];
        let mut removed = false;
        for (i, rec) in code.insns.iter().enumerate() {
            if !is_pure(&rec.insn) {
                continue;
            }
            let (_, defs) = uses_defs(&rec.insn);
            let dead = defs.iter().all(|d| match d {
                R::V(v) => !live_out[i].get(v.0 as usize),
                R::P(_) => false,
            });
            if dead {
                keep[i] = false;
                removed = true;
            }
        }
        if !removed {
            return;
        }
        code.retain(&keep);
    }
}
