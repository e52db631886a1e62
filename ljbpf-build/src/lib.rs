//! ljbpf-build: compiles Lua probe files into eBPF at `cargo build` time.
//!
//! The pipeline, one module per stage:
//!
//! ```text
//! probe.lua ─ lua::evaluate  LuaJIT runs the top level with a description API only, in a
//!                            child process (lua::isolate) → declarations as plain data
//!           ─ lua::load      declarations checked: map and program kinds, names, C types
//!           ─ lua::decode    program functions → LuaJIT bytecode with lines
//!           ─ lower          bytecode → BPF over virtual registers, typed as LuaJIT types values
//!           ─ mir::pipeline  named passes: legalize, dce, slots, regalloc (checked), peephole,
//!                            frame, jumps, layout
//!           ─ emit::*        listing, Rust bindings; ljbpf_core::elf writes the object
//! ```
//!
//! `driver` runs the stages for one file; `artifact` holds what they produce. The facts the
//! compiler shares with the runtime and the CLI (instructions, helpers, map and program kinds,
//! context layouts) live in `ljbpf-core`.
//!
//! From a `build.rs`, [`compile_probes`] compiles a list of files; [`Builder`] takes options.

pub mod artifact;
mod build;
pub mod ctype;
pub mod diag;
pub mod driver;
pub mod emit;
pub mod kernel;
pub mod lower;
pub mod lua;
pub mod mir;
pub mod names;
pub mod tracepoint;

pub use artifact::{CompiledProbe, CompiledProgram, MapInfo, Options};
pub use build::Built;
pub use build::{compile_probes, Builder};
pub use diag::{Diagnostic, Diagnostics, Span};
pub use driver::{bytecode_listing, compile_file, compile_source, probe_name};
pub use ljbpf_core as core;
pub use ljbpf_core::insn::Isa;
pub use ljbpf_core::program::ProgramKind;
pub use mir::pipeline::Pass;
