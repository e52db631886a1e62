//! Frame set-up: writes the whole stack frame at entry, so every slot exists on every path.
//! Linux 6.18's verifier otherwise reported an internal "verifier bug: stack slot N, total
//! slots M" for a slot first written on one branch and used after the join (found by the
//! random difftest; `tests/corpus/regress_stack_join.lua`).

use ljbpf_core::insn::{Insn, Reg, Size};

use super::code::{PCode, Rec};

/// Runs the pass in place.
pub fn run(code: &mut PCode) {
    let entry_line = code.insns.first().map_or(0, |r| r.line);
    let stores: Vec<Rec<Reg>> = (8..=code.stack_bytes)
        .step_by(8)
        .map(|off| {
            Rec::new(
                Insn::St {
                    size: Size::DW,
                    dst: Reg::R10,
                    off: -(off as i16),
                    imm: 0,
                },
                entry_line,
            )
        })
        .collect();
    let n = stores.len();
    code.insns.splice(0..0, stores);
    for l in code.labels.iter_mut().flatten() {
        *l += n;
    }
}
