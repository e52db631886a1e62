//! ljbpf-runtime: loads, attaches and reads probes compiled by `ljbpf-build`, on top of aya.
//!
//! Generated bindings describe each compiled probe file with a `static` [`ProbeSpec`] (the ELF
//! object embedded with `include_bytes!`, plus what the compiler knows about each program) and
//! call into this crate:
//!
//! ```no_run
//! # static SPEC: ljbpf_runtime::ProbeSpec = ljbpf_runtime::ProbeSpec {
//! #     name: "syscount", elf: &[], programs: &[], maps: &[], requires: &[] };
//! use ljbpf_runtime::{aya, Probe};
//! let mut probe = Probe::load(&SPEC)?;          // every program goes through the verifier here
//! probe.attach_all()?;
//! let counts: aya::maps::HashMap<_, u32, u64> =
//!     aya::maps::HashMap::try_from(probe.map("counts")?)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Beyond aya's typed maps: [`PerfReader`] (a `perf_event_array` read on every online CPU) and
//! [`RingBufReader`] (a `ringbuf`) decode events into the generated structs, [`sum_per_cpu`]
//! adds up per-CPU counters, and [`Probe::stack`] with a [`Symbolizer`] turns `stack_trace`
//! entries into `function+offset` frames. [`hist`] prints log2 histograms and counts as bcc's
//! tools do.
//!
//! This crate contains no Lua: everything Lua-specific was resolved at build time, and the only
//! trace of the source is the [`LineEntry`] table used to point verifier rejections at a Lua line.

#![warn(missing_docs)]

mod error;
mod events;
mod fs;
pub mod hist;
mod percpu;
mod probe;
mod relocate;
mod spec;
mod stack;
mod tc;
mod verifier;

/// aya, re-exported so generated code and users name the exact version the runtime uses
/// (`ljbpf_runtime::aya::Pod`, `ljbpf_runtime::aya::maps::HashMap`, ...).
pub use aya;
pub use aya::programs::XdpMode;
pub use ljbpf_core::program::Direction;
pub use ljbpf_macros::include_probe;

pub use error::Error;
pub use events::{Events, PerfReader, ReadCount, RingBufReader, DEFAULT_PERF_PAGES};
pub use fs::{ensure_bpffs, ensure_tracefs};
pub use ljbpf_core::program::{PerfEventSpec, Sample};
pub use ljbpf_core::reloc::{FieldReloc, RelocKind};
pub use ljbpf_core::requires::Requirement;
pub use percpu::{sum_per_cpu, sum_per_cpu_signed};
pub use probe::PerfAttach;
pub use probe::{Probe, TestRun};
pub use spec::{LineEntry, ProbeSpec, ProgramInfo, ProgramKind, SourceLocation};
pub use stack::{stack_addresses, Symbol, Symbolizer, BPF_F_USER_STACK};
pub use verifier::{check, CheckRow, VerifierError};
