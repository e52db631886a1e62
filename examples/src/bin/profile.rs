//! profile: a CPU profiler sampling stacks at a fixed frequency, like bcc's `profile`.
//!
//! The probe (`probes/profile.lua`) runs on a perf event of the software CPU clock, opened on
//! every online CPU at `--frequency` Hz: each sample counts the running task's kernel and user
//! stacks under {process, stack ids, comm}. This side waits, then prints each stack symbolised
//! (kernel frames through `/proc/kallsyms`, user frames through the process's mapped ELF
//! files), innermost frame first, followed by `-  comm (pid)` and the number of samples,
//! smallest count first as bcc does. `--folded` prints bcc's folded format for
//! flamegraph.pl: `comm;user frames;kernel frames count`, outermost frame first.

use std::error::Error;
use std::process::ExitCode;

use clap::Parser;
use ljbpf_examples::{stacks, tool};
use ljbpf_runtime::{PerfAttach, PerfEventSpec, Sample, Symbolizer};

ljbpf_macros::include_probe!("profile");

use profile::profile_key_t;

#[derive(Debug, Parser)]
#[command(
    name = "profile",
    about = "Profile CPU usage by sampling stack traces at a timed interval, like bcc's profile"
)]
struct Args {
    /// Stop after SECS seconds and print (default: run until Ctrl-C).
    #[arg(short, long, value_name = "SECS")]
    duration: Option<u64>,
    /// Sample only process PID (its threads).
    #[arg(short, long, value_name = "PID")]
    pid: Option<u32>,
    /// Samples per second on each CPU.
    #[arg(short = 'F', long, value_name = "HZ", default_value_t = 49)]
    frequency: u64,
    /// Print folded stacks (`comm;user frames;kernel frames count`, outermost frame first) for
    /// flamegraph.pl.
    #[arg(short, long)]
    folded: bool,
}

/// `perf_event_attr.type` and `config` of the software CPU clock (`PERF_TYPE_SOFTWARE`,
/// `PERF_COUNT_SW_CPU_CLOCK`, include/uapi/linux/perf_event.h).
const CPU_CLOCK: (u32, u64) = (1, 0);

fn main() -> ExitCode {
    tool::main(
        "profile",
        "it loads a BPF program (the bpf() syscall) and opens a perf event on every CPU \
         (perf_event_open)",
        || run(&Args::parse()),
    )
}

fn run(args: &Args) -> Result<(), Box<dyn Error>> {
    if args.frequency == 0 {
        return Err("--frequency must be at least 1".into());
    }
    let mut probe = profile::Probe::load()?;
    probe.config()?.set(0, args.pid.unwrap_or(0), 0)?;
    tool::catch_ctrl_c();
    probe.attach_on_sample(&PerfAttach {
        event: Some(PerfEventSpec {
            perf_type: CPU_CLOCK.0,
            config: CPU_CLOCK.1,
            sample: Sample::Frequency(args.frequency),
        }),
        ..PerfAttach::default()
    })?;
    let whom = match args.pid {
        Some(pid) => format!("PID {pid}"),
        None => "all threads".to_owned(),
    };
    tool::print_tracing(
        &format!(
            "on-CPU stacks of {whom} at {} Hz by user + kernel stack",
            args.frequency
        ),
        args.duration,
    );
    tool::wait(args.duration);
    // Stop sampling before reading, so the counts do not move while they are printed.
    probe.inner().detach("on_sample")?;

    let mut counts: Vec<(profile_key_t, u64)> = Vec::new();
    for entry in probe.counts()?.iter() {
        counts.push(entry?);
    }
    // Smallest count first, like bcc; ties in a fixed order so the output is stable.
    counts.sort_by_key(|(k, v)| (*v, k.tgid, k.kernel_stack_id, k.user_stack_id, k.name));

    let mut symbols = Symbolizer::new();
    if !args.folded {
        println!();
    }
    // Folded lines of different stack ids can read the same (other addresses in the same
    // functions): one line each, their counts added, in first-seen order.
    let mut folded: Vec<(String, u64)> = Vec::new();
    for (key, count) in &counts {
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
            let line = line.join(";");
            match folded.iter_mut().find(|(l, _)| *l == line) {
                Some((_, n)) => *n += count,
                None => folded.push((line, *count)),
            }
            continue;
        }
        stacks::print_frames(&kernel, key.kernel_stack_id, "[Missed Kernel Stack]");
        stacks::print_frames(&user, key.user_stack_id, "[Missed User Stack]");
        println!("    {:<16} {} ({})", "-", name, key.tgid);
        println!("        {count}");
        println!();
    }
    folded.sort_by_key(|(_, n)| *n);
    for (line, count) in folded {
        println!("{line} {count}");
    }
    Ok(())
}
