//! BPF instructions and the back end: register allocation and layout.

pub mod helpers;
pub mod insn;
pub mod layout;
pub mod peephole;
pub mod regalloc;

/// Removes the instructions whose `keep` is false and moves every label to the instruction that
/// now follows its place (used by dead-code elimination and jump clean-up).
pub fn retain_insns<T>(insns: &mut Vec<T>, labels: &mut [Option<usize>], keep: &[bool]) {
    let n = insns.len();
    let mut new_index = vec![0usize; n + 1];
    let mut kept = 0;
    for (i, k) in keep.iter().enumerate().take(n) {
        new_index[i] = kept;
        if *k {
            kept += 1;
        }
    }
    new_index[n] = kept;
    for l in labels.iter_mut() {
        *l = l.map(|i| new_index[i]);
    }
    let mut i = 0;
    insns.retain(|_| {
        i += 1;
        keep[i - 1]
    });
}
