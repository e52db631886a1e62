//! Machine code over virtual registers and the passes that turn it into laid-out BPF:
//!
//! ```text
//! VCode ─ facts ─ loops ─ thread ─ cse ─ values ─ offsets ─ bits ─ legalize ─ stores ─ dce
//!       ─ reload ─ widen ─ slots ─ twins ─ regalloc ─ peephole ─ frame ─ returns ─ jumps
//!       ─ place ─ layout → Laid
//! ```
//!
//! [`pipeline`] runs them in order, each a function of its own, and can stop after any of them
//! to print the code (`ljbpf dump --after PASS`).

pub mod bits;
pub mod check;
pub mod code;
pub mod counters;
pub mod cse;
pub mod dce;
pub mod facts;
pub mod frame;
pub mod jumps;
pub mod layout;
pub mod legalize;
pub mod liveness;
pub mod loopfacts;
pub mod loops;
pub mod offsets;
pub mod peephole;
pub mod pipeline;
pub mod place;
pub mod regalloc;
pub mod reload;
pub mod returns;
pub mod slots;
pub mod stores;
pub mod thread;
pub mod twins;
pub mod values;
pub mod widen;

pub use code::{Code, Operand, PCode, Rec, Reloc, VCode, VReg, R};
