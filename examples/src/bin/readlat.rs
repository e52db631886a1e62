//! readlat: a log2 histogram of read(2) latency, like bcc's funclatency or biolatency.
//!
//! The probe (`probes/readlat.lua`) times each read(2) between the `syscalls/sys_enter_read`
//! and `sys_exit_read` tracepoints (this kernel has no kprobes for funclatency's usual
//! `vfs_read`) and counts it in a log2 slot of microseconds in the `hist` array; this side
//! loads it, tells it which process to watch, waits, and prints the histogram.

use std::error::Error;
use std::process::ExitCode;

use clap::Parser;
use ljbpf_examples::{hist, tool};

ljbpf_macros::include_probe!("readlat");

#[derive(Debug, Parser)]
#[command(
    name = "readlat",
    about = "Summarize read(2) latency as a log2 histogram, like bcc's funclatency"
)]
struct Args {
    /// Stop after SECS seconds and print (default: run until Ctrl-C).
    #[arg(short, long, value_name = "SECS")]
    duration: Option<u64>,
    /// Time only the reads of process PID (its thread group).
    #[arg(short, long, value_name = "PID")]
    pid: Option<u32>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    tool::main(
        "readlat",
        "it loads BPF programs (the bpf() syscall) and attaches them to the syscalls/*_read \
         tracepoints (tracefs)",
        || run(&args),
    )
}

fn run(args: &Args) -> Result<(), Box<dyn Error>> {
    let mut probe = readlat::Probe::load()?;
    // config[0] is the tgid to trace; 0 traces every process.
    probe
        .config()?
        .set(0, u64::from(args.pid.unwrap_or(0)), 0)?;
    tool::catch_ctrl_c();
    probe.attach_all()?;
    let whom = match args.pid {
        Some(pid) => format!("read(2) latency of pid {pid}"),
        None => "read(2) latency".to_owned(),
    };
    tool::print_tracing(&whom, args.duration);
    tool::wait(args.duration);
    // Stop counting before reading the 64 slots, so that they add up to one moment.
    probe.inner().detach("on_enter")?;
    probe.inner().detach("on_exit")?;

    let map = probe.hist()?;
    let mut slots = Vec::with_capacity(64);
    for slot in 0..64u32 {
        slots.push(map.get(&slot, 0)?);
    }
    let total: u64 = slots.iter().sum();
    println!();
    print!("{}", hist::log2_hist(&slots, "usecs"));
    println!();
    println!("total {total} reads");
    Ok(())
}
