//! bcc-style tools built with ljbpf: each is a Rust `main` in `src/bin/` plus a Lua probe file
//! in `probes/`, compiled to eBPF by `build.rs`.
//!
//! - `syscount`: counts syscalls per syscall, optionally for one process.
//! - `sockproto`: packets and bytes per IP protocol on an interface (socket filter).
//! - `dnshist`: a histogram of DNS query types sent over UDP (socket filter).
//! - `httpmethods`: HTTP requests per method seen in TCP payloads (socket filter).
//! - `readlat`: a log2 histogram of read(2) latency (syscall tracepoints).
//! - `offcputime`: off-CPU time by kernel and user stack, symbolised (`sched/sched_switch`).
//! - `bashreadline`: commands typed into bash, through a perf buffer (uretprobe on readline).
//! - `xdpfw`: packets per IP protocol arriving on an interface, and drops by port (XDP).
//! - `getpid_loop`: a test helper that calls getpid(2) a given number of times on request.
//! - `read_loop`: a test helper that makes slow and fast read(2) calls on request.

pub mod netns;
/// x86-64 syscall names: the table lives in `ljbpf-core`, shared with `ljbpf run`.
pub use ljbpf_core::syscalls;
/// bcc-style histograms: the printer lives in `ljbpf-runtime`, shared with `ljbpf run`.
pub use ljbpf_runtime::hist;
pub mod stacks;
pub mod testing;
pub mod tool;
