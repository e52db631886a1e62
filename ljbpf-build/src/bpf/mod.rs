//! BPF instructions and the back end: register allocation and layout.

pub mod helpers;
pub mod insn;
pub mod layout;
pub mod peephole;
pub mod regalloc;
