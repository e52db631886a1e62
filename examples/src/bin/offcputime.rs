//! offcputime: total off-CPU time by kernel and user stack, like bcc's `offcputime`.
//!
//! The probe (`probes/offcputime.lua`) runs on `sched/sched_switch`: at switch-out it records
//! the time and the stacks of the thread leaving the CPU, at switch-in it adds the time the
//! thread was away (µs) to `counts` under {thread, process, stack ids, comm}. This side waits,
//! then prints each stack symbolised (kernel frames through `/proc/kallsyms`, user frames
//! through the process's mapped ELF files), innermost frame first, followed by
//! `-  comm (tid)` and the total microseconds, smallest total first as bcc does (the largest
//! ends up next to the prompt). `--folded` prints bcc's folded format for flame graphs.

use std::error::Error;
use std::process::ExitCode;

use clap::Parser;
use ljbpf_examples::{stacks, tool};
use ljbpf_runtime::Symbolizer;

ljbpf_macros::include_probe!("offcputime");

use offcputime::offcpu_key_t;

#[derive(Debug, Parser)]
#[command(
    name = "offcputime",
    about = "Summarize off-CPU time by stack trace, like bcc's offcputime"
)]
struct Args {
    /// Stop after SECS seconds and print (default: run until Ctrl-C).
    #[arg(short, long, value_name = "SECS")]
    duration: Option<u64>,
    /// Trace only the threads of process PID (its thread group).
    #[arg(short, long, value_name = "PID")]
    pid: Option<u32>,
    /// Count only off-CPU intervals of at least US microseconds (each interval on its own).
    #[arg(short = 'm', long, value_name = "US", default_value_t = 1)]
    min_us: u64,
    /// Print folded stacks (`comm;user frames;kernel frames total_us`, outermost frame first)
    /// for flamegraph.pl.
    #[arg(short, long)]
    folded: bool,
}

fn main() -> ExitCode {
    tool::main(
        "offcputime",
        "it loads a BPF program (the bpf() syscall) and attaches it to the sched/sched_switch \
         tracepoint (tracefs)",
        || run(&Args::parse()),
    )
}

fn run(args: &Args) -> Result<(), Box<dyn Error>> {
    let mut probe = offcputime::Probe::load()?;
    {
        // config[0]: the tgid to trace (0: every process); config[1]: the shortest interval.
        let mut config = probe.config()?;
        config.set(0, u64::from(args.pid.unwrap_or(0)), 0)?;
        config.set(1, args.min_us, 0)?;
    }
    tool::catch_ctrl_c();
    probe.attach_all()?;
    let whom = match args.pid {
        Some(pid) => format!("PID {pid}"),
        None => "all threads".to_owned(),
    };
    tool::print_tracing(
        &format!("off-CPU time (us) of {whom} by user + kernel stack"),
        args.duration,
    );
    tool::wait(args.duration);
    let missed = recursion_misses(&mut probe, "on_switch");

    let mut counts: Vec<(offcpu_key_t, u64)> = Vec::new();
    for entry in probe.counts()?.iter() {
        counts.push(entry?);
    }
    // Smallest total first, like bcc; ties in a fixed order so the output is stable.
    counts.sort_by_key(|(k, v)| (*v, k.tgid, k.pid, k.kernel_stack_id, k.user_stack_id));

    let mut symbols = Symbolizer::new();
    if !args.folded {
        println!();
    }
    for (key, total) in &counts {
        let kernel = stacks::frames(
            key.kernel_stack_id,
            |id| probe.stacks(id).ok(),
            |addr| symbols.symbolize_kernel(addr).map(|s| s.name),
        );
        let user = stacks::frames(
            key.user_stack_id,
            |id| probe.stacks(id).ok(),
            |addr| symbols.symbolize_user(key.tgid, addr).map(|s| s.name),
        );
        let name = key.name_str().into_owned();
        if args.folded {
            let mut line = vec![name.clone()];
            stacks::push_folded(&mut line, &user, key.user_stack_id, "[Missed User Stack]");
            stacks::push_folded(
                &mut line,
                &kernel,
                key.kernel_stack_id,
                "[Missed Kernel Stack]",
            );
            println!("{} {total}", line.join(";"));
            continue;
        }
        stacks::print_frames(&kernel, key.kernel_stack_id, "[Missed Kernel Stack]");
        stacks::print_frames(&user, key.user_stack_id, "[Missed User Stack]");
        println!("    {:<16} {} ({})", "-", name, key.pid);
        println!("        {total}");
        println!();
    }
    if let Some(n) = missed.filter(|&n| n > 0) {
        eprintln!(
            "WARNING: the kernel skipped the probe on {n} context switches (BPF recursion \
             protection: another tracing program or a BPF map syscall was active on that CPU); \
             the intervals they began or ended are not counted"
        );
    }
    Ok(())
}

/// How many times the kernel skipped `program` because a BPF tracing program was already
/// running on that CPU (`recursion_misses` in the program fd's fdinfo; `None` when the kernel
/// does not report it).
fn recursion_misses(probe: &mut offcputime::Probe, program: &str) -> Option<u64> {
    use std::os::fd::AsRawFd as _;
    let fd = probe.inner().program_fd(program).ok()?.as_raw_fd();
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix("recursion_misses:"))
        .and_then(|n| n.trim().parse().ok())
}
