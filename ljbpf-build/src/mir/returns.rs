//! Returns shared (after register allocation): every `r0 = K; exit` but the last one for each
//! `K` becomes a jump to that last one. Lowering writes a return block per `return K`; one block
//! per constant is enough, and the jump pass then folds `if c goto A; goto RETURN; A:` into
//! `if !c goto RETURN`, so an early `return 0` costs one conditional jump as in clang's code.

use ljbpf_core::insn::{AluOp, Insn, Reg, Src};

use super::code::PCode;

/// How far (in instructions) a return may be from the block it jumps to: a jump's offset is a
/// signed 16-bit number, and 64-bit immediates take two slots.
const REACH: usize = 8192;

/// Runs the pass in place.
pub fn run(code: &mut PCode) {
    let n = code.insns.len();
    let is_return = |i: usize| match (code.insns[i].insn, code.insns.get(i + 1).map(|r| r.insn)) {
        (
            Insn::Alu64 {
                op: AluOp::Mov,
                dst: Reg::R0,
                src: Src::Imm(k),
            },
            Some(Insn::Exit),
        ) => Some(k),
        _ => None,
    };
    // The last return of each constant after each instruction, found from the end.
    let mut last: Vec<(i32, usize)> = Vec::new();
    let mut edits: Vec<(usize, usize)> = Vec::new();
    for i in (0..n).rev() {
        let Some(k) = is_return(i) else {
            continue;
        };
        match last.iter_mut().find(|(c, _)| *c == k) {
            Some((_, at)) if *at - i <= REACH => edits.push((i, *at)),
            Some((_, at)) => *at = i,
            None => last.push((k, i)),
        }
    }
    let mut labels: Vec<(usize, ljbpf_core::insn::Label)> = Vec::new();
    for (i, at) in edits {
        let target = match labels.iter().find(|(a, _)| *a == at) {
            Some(&(_, l)) => l,
            None => {
                let l = code.label();
                code.labels[l.0 as usize] = Some(at);
                labels.push((at, l));
                l
            }
        };
        // The `exit` after it stays for jumps that land on it; nothing else reaches it now, and
        // the jump pass drops it then.
        code.insns[i].insn = Insn::Ja { target };
    }
}
