//! ljbpf-core: the facts ljbpf's compiler (`ljbpf-build`), runtime (`ljbpf-runtime`) and CLI
//! share, as pure data — no Lua, no kernel calls.
//!
//! One table per fact:
//!
//! - [`insn`]: BPF instructions — encoding, decoding, kernel-syntax printing;
//! - [`interp`]: a BPF interpreter over any register type (an oracle for tests);
//! - [`helper`]: the kernel helpers ljbpf calls (id, name, arguments, result, first kernel);
//! - [`map`]: map kinds (kernel type, key rules, what programs may do, Rust binding);
//! - [`program`]: program kinds (constructor, section, kernel type, context, verdicts);
//! - [`context`]: fixed context layouts (`__sk_buff`, `pt_regs` per architecture);
//! - [`btf`]: the BTF and BTF.ext encoder;
//! - [`elf`]: the ELF object writer;
//! - [`tracefs`]: tracepoint format files;
//! - [`reloc`]: kernel-layout relocations a loader applies;
//! - [`requires`]: the kernel features a probe uses, with their first versions;
//! - [`show`]: how `ljbpf run` shows a map (`bpf.map(..., { show = 'log2' })`);
//! - [`syscalls`]: x86-64 syscall numbers and names.

pub mod btf;
pub mod context;
pub mod elf;
pub mod helper;
pub mod insn;
pub mod interp;
pub mod map;
pub mod program;
pub mod reloc;
pub mod requires;
pub mod show;
pub mod syscalls;
pub mod tracefs;
