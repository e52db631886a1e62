//! syscount: counts system calls per syscall, like bcc's `syscount`.
//!
//! The probe (`probes/syscount.lua`) counts `raw_syscalls/sys_enter` events per syscall number
//! in the `counts` map; this side loads it, tells it which process to watch, waits, and prints
//! the top N with x86-64 syscall names.

use std::error::Error;
use std::process::ExitCode;

use clap::Parser;
use ljbpf_examples::syscalls::syscall_name;
use ljbpf_examples::tool;

ljbpf_runtime::include_probe!("syscount");

#[derive(Debug, Parser)]
#[command(
    name = "syscount",
    about = "Count system calls per syscall, like bcc's syscount"
)]
struct Args {
    /// Stop after SECS seconds and print (default: run until Ctrl-C).
    #[arg(short, long, value_name = "SECS")]
    duration: Option<u64>,
    /// Print the N most frequent syscalls.
    #[arg(short = 'T', long, value_name = "N", default_value_t = 10)]
    top: usize,
    /// Count only the syscalls of process PID (its thread group).
    #[arg(short, long, value_name = "PID")]
    pid: Option<u32>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    tool::main(
        "syscount",
        "it loads a BPF program (the bpf() syscall) and attaches it to the raw_syscalls/sys_enter \
         tracepoint (tracefs)",
        || run(&args),
    )
}

fn run(args: &Args) -> Result<(), Box<dyn Error>> {
    let mut probe = syscount::Probe::load()?;
    // config[0] is the tgid to count; 0 counts every process.
    probe
        .config()?
        .set(0, u64::from(args.pid.unwrap_or(0)), 0)?;
    tool::catch_ctrl_c();
    probe.attach_all()?;

    let whom = match args.pid {
        Some(pid) => format!("syscalls of pid {pid}"),
        None => "syscalls".to_owned(),
    };
    match args.duration {
        Some(secs) => println!("Tracing {whom} for {secs} s... Hit Ctrl-C to end early."),
        None => println!(
            "Tracing {whom}, printing top {}... Hit Ctrl-C to end.",
            args.top
        ),
    }
    tool::wait(args.duration);

    let mut counts: Vec<(u32, u64)> = Vec::new();
    for entry in probe.counts()?.iter() {
        counts.push(entry?);
    }
    // Most frequent first; equal counts by syscall number, so the output is stable.
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let total: u64 = counts.iter().map(|&(_, n)| n).sum();

    println!();
    println!("{:<22} {:>8}", "SYSCALL", "COUNT");
    for &(nr, n) in counts.iter().take(args.top) {
        let name = syscall_name(u64::from(nr)).map_or_else(|| format!("[{nr}]"), str::to_owned);
        println!("{name:<22} {n:>8}");
    }
    println!();
    println!(
        "total {total} syscalls, {} distinct, {} shown",
        counts.len(),
        counts.len().min(args.top)
    );
    Ok(())
}
