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
use ljbpf_examples::tool;
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

/// `-EFAULT` from `bpf_get_stackid`: no stack of that kind (a kernel thread has no user
/// stack, a sample in user mode no kernel stack). Not a miss.
const NO_STACK: i32 = -14;

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
        let kernel = frames(&probe, key.kernel_stack_id, |addr| {
            symbols.symbolize_kernel(addr).map(|s| s.name)
        });
        let user = frames(&probe, key.user_stack_id, |addr| {
            symbols.symbolize_user(key.tgid, addr).map(|s| s.name)
        });
        let name = comm(&key.name);
        if args.folded {
            let mut line = vec![name.clone()];
            push_folded(&mut line, &user, key.user_stack_id, "[Missed User Stack]");
            push_folded(
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
        match kernel {
            Some(frames) => frames.iter().for_each(|f| println!("    {f}")),
            None if key.kernel_stack_id == NO_STACK => {}
            None => println!("    [Missed Kernel Stack]"),
        }
        match user {
            Some(frames) => frames.iter().for_each(|f| println!("    {f}")),
            None if key.user_stack_id == NO_STACK => {}
            None => println!("    [Missed User Stack]"),
        }
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

/// The frames of stack `id` symbolised by `symbolize`, innermost first (`[unknown]` where no
/// symbol covers the address), or `None` when the probe got no stack (`id < 0`) or the stack
/// is no longer in the map.
fn frames(
    probe: &profile::Probe,
    id: i32,
    mut symbolize: impl FnMut(u64) -> Option<String>,
) -> Option<Vec<String>> {
    let id = u32::try_from(id).ok()?;
    let addrs = probe.stacks(id).ok()?;
    Some(
        addrs
            .into_iter()
            .map(|addr| symbolize(addr).unwrap_or_else(|| "[unknown]".to_owned()))
            .collect(),
    )
}

/// Appends a stack to a folded line, outermost frame first.
fn push_folded(line: &mut Vec<String>, frames: &Option<Vec<String>>, id: i32, missed: &str) {
    match frames {
        Some(frames) => line.extend(frames.iter().rev().cloned()),
        None if id == NO_STACK => {}
        None => line.push(missed.to_owned()),
    }
}

/// A `char[16]` comm as text: up to the first NUL.
fn comm(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}
