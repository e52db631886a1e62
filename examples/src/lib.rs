//! bcc-style tools built with ljbpf: each is a Rust `main` in `src/bin/` plus a Lua probe file
//! in `probes/`, compiled to eBPF by `build.rs`.
//!
//! - `syscount`: counts syscalls per syscall, optionally for one process.
//! - `getpid_loop`: a test helper that calls getpid(2) a given number of times on request.

pub mod syscalls;
