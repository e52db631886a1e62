//! ljbpf-build: compiles Lua probe files into eBPF at `cargo build` time.
//!
//! The pipeline, one module per stage:
//!
//! ```text
//! probe.lua ─ lua::load    sandboxed LuaJIT runs the file → declarations (maps, programs)
//!           ─ lua::decode  program functions → LuaJIT bytecode with lines
//!           ─ ir::lower    bytecode → BPF over virtual registers, typed as LuaJIT types values
//!           ─ bpf::regalloc virtual → physical registers and stack slots
//!           ─ bpf::layout  labels → offsets, map references → relocations
//!           ─ emit::*      ELF object, listing, Rust bindings
//! ```
//!
//! From a `build.rs`, [`compile_probes`] compiles a list of files; [`Builder`] takes options.

pub mod bpf;
mod build;
pub mod ctype;
pub mod diag;
pub mod emit;
pub mod ir;
pub mod kernel;
pub mod lua;
pub mod probe;
pub mod tracepoint;

pub use build::Built;
pub use build::{compile_probes, Builder};
pub use diag::{Diagnostic, Diagnostics, Span};
pub use probe::{
    bytecode_listing, compile_file, compile_source, CompiledProbe, CompiledProgram, MapInfo,
    Options, ProgramKind,
};
