//! `ljbpf`: compile, dump, check, run and test-run Lua probe files from the command line.
//!
//! Exit status: 0 on success; 1 when `check` finds a program the verifier rejects; 2 when the
//! command could not do its work (the probe file does not compile, a file cannot be read or
//! written, `check`, `run` or `test-run` is not run as root, `run` cannot attach).

mod check;
mod run;
mod test_run;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ljbpf_build::{CompiledProbe, Options};

#[derive(Debug, Parser)]
#[command(
    name = "ljbpf",
    version,
    about = "Compile Lua probe files into eBPF, inspect and verify them"
)]
struct Cli {
    /// Read tracepoint `format` files from DIR (`DIR/<category>/<name>/format`) instead of
    /// $LJBPF_TRACEFS_EVENTS. Without --btf or --events-dir, layouts come from the running
    /// kernel's BTF (/sys/kernel/btf/vmlinux), then from /sys/kernel/tracing/events.
    #[arg(long, global = true, value_name = "DIR")]
    events_dir: Option<PathBuf>,

    /// The BPF instruction-set level to emit: v1, v2, v3 (default; Linux 5.1 and later) or v4
    /// (Linux 6.6 and later).
    #[arg(long, global = true, value_name = "LEVEL", default_value_t = ljbpf_build::Isa::V3)]
    isa: ljbpf_build::Isa,

    /// Take tracepoint layouts from this BTF file (a copy of some kernel's
    /// /sys/kernel/btf/vmlinux) instead of $LJBPF_BTF or the running kernel's BTF.
    #[arg(long, global = true, value_name = "FILE")]
    btf: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the listing: BPF instructions in kernel syntax with the Lua source lines.
    Dump {
        /// The probe file.
        file: PathBuf,
        /// Print the LuaJIT bytecode of the program functions instead (what the compiler reads).
        #[arg(long)]
        bytecode: bool,
        /// Print each program's code as it is after back-end pass PASS instead; may be given
        /// more than once.
        #[arg(long, value_name = "PASS", value_parser = pass_parser())]
        after: Vec<ljbpf_build::Pass>,
        /// Print a table instead: per program, the instructions after each back-end pass, the
        /// final instructions and stack bytes (`check` adds what the verifier processed).
        #[arg(long)]
        stats: bool,
    },
    /// Write the ELF object (EM_BPF relocatable, loadable by aya or libbpf).
    Compile {
        /// The probe file.
        file: PathBuf,
        /// Where to write the object.
        #[arg(short, long, value_name = "OUT.o")]
        output: PathBuf,
    },
    /// Load every program into the running kernel's verifier (nothing is attached) and print
    /// one row per program. Needs root.
    Check {
        /// The probe file.
        file: PathBuf,
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Compile, load and attach every program, then show the maps (each as its `show`
    /// option says), events and print() lines until Ctrl-C, SIGTERM or --duration. Needs root.
    Run {
        /// The probe file.
        file: PathBuf,
        /// Attach socket filters, XDP and tc programs to interface NAME (those that name none
        /// must get one). On a loopback interface socket filters ignore outgoing packets, so
        /// each packet counts once.
        #[arg(long, value_name = "NAME")]
        iface: Option<String>,
        /// Uprobes fire only in process PID (other programs see every process).
        #[arg(long, value_name = "PID")]
        pid: Option<u32>,
        /// Also show the maps every SECS seconds while running.
        #[arg(long, value_name = "SECS")]
        interval: Option<u64>,
        /// Stop after SECS seconds (default: at Ctrl-C or SIGTERM).
        #[arg(long, value_name = "SECS")]
        duration: Option<u64>,
        /// Rows per table (largest values first).
        #[arg(long, value_name = "N", default_value_t = 20)]
        top: usize,
    },
    /// Run one program in the kernel on given input (BPF_PROG_TEST_RUN) and print its return
    /// value, the output data and the time per run. Socket filters, XDP, tc and cgroup skb
    /// programs, and raw tracepoints. Needs root.
    TestRun {
        /// The probe file.
        file: PathBuf,
        /// The program to run (a key of the probe's returned table).
        #[arg(long, value_name = "NAME")]
        program: String,
        /// The input: hex bytes, or @FILE for a binary file. A packet program gets an Ethernet
        /// frame: XDP and tc programs see all of it; for socket filters and cgroup skb programs
        /// the kernel strips its first 14 bytes before the program runs. A raw tracepoint gets
        /// its arguments: up to 12 little-endian 8-byte words.
        #[arg(long, value_name = "HEX|@FILE")]
        data: String,
        /// Run the program N times; the time printed is the kernel's average per run.
        #[arg(long, value_name = "N", default_value_t = 1)]
        repeat: u32,
        /// Print a JSON object instead of lines.
        #[arg(long)]
        json: bool,
    },
}

/// Why a command stopped; printed once, in `main`.
enum Failure {
    /// The probe file did not compile: the diagnostics, already formatted.
    Compile(String),
    /// Anything else that kept the command from running.
    Other(String),
}

/// `--after`'s values: the pipeline's own pass table, so the help lists every pass.
fn pass_parser() -> impl clap::builder::TypedValueParser<Value = ljbpf_build::Pass> {
    use clap::builder::TypedValueParser;
    let names = ljbpf_build::Pass::ALL.iter().map(|p| p.name());
    clap::builder::PossibleValuesParser::new(names).try_map(|s| s.parse::<ljbpf_build::Pass>())
}

fn main() -> ExitCode {
    // `ljbpf dump FILE | head` ends quietly when the reader goes away, like other Unix tools,
    // instead of panicking on a broken pipe (Rust ignores SIGPIPE by default).
    // SAFETY: restoring the default disposition of a signal has no preconditions; no other
    // thread exists yet.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let mut opts = Options {
        events_dir: cli.events_dir,
        isa: cli.isa,
        btf: cli.btf,
        ..Options::default()
    };
    let result = match cli.command {
        Command::Dump {
            file,
            bytecode,
            after,
            stats,
        } => {
            if stats {
                opts.snapshots_after = ljbpf_build::Pass::ALL.to_vec();
                stats_table(&file, &opts)
            } else {
                opts.snapshots_after = after;
                dump(&file, bytecode, &opts)
            }
        }
        Command::Compile { file, output } => compile_to(&file, &output, &opts),
        Command::Check { file, json } => check::run(&file, &opts, json),
        Command::Run {
            file,
            iface,
            pid,
            interval,
            duration,
            top,
        } => run::run(
            &run::Request {
                file: &file,
                iface: iface.as_deref(),
                pid,
                interval,
                duration,
                top,
            },
            &opts,
        ),
        Command::TestRun {
            file,
            program,
            data,
            repeat,
            json,
        } => test_run::run(
            &test_run::Request {
                file: &file,
                program: &program,
                data: &data,
                repeat,
                json,
            },
            &opts,
        ),
    };
    match result {
        Ok(code) => code,
        Err(Failure::Compile(diagnostics)) => {
            eprintln!("{diagnostics}");
            ExitCode::from(2)
        }
        Err(Failure::Other(message)) => {
            eprintln!("ljbpf: error: {message}");
            ExitCode::from(2)
        }
    }
}

/// Compiles `file`, turning diagnostics into a [`Failure`].
fn compile(file: &Path, opts: &Options) -> Result<CompiledProbe, Failure> {
    if !file.is_file() {
        return Err(Failure::Other(format!("{}: no such file", file.display())));
    }
    ljbpf_build::compile_file(file, opts).map_err(|d| Failure::Compile(d.to_string()))
}

fn dump(file: &Path, bytecode: bool, opts: &Options) -> Result<ExitCode, Failure> {
    if bytecode {
        let text =
            ljbpf_build::bytecode_listing(file).map_err(|d| Failure::Compile(d.to_string()))?;
        print!("{text}");
        return Ok(ExitCode::SUCCESS);
    }
    let probe = compile(file, opts)?;
    if !opts.snapshots_after.is_empty() {
        for p in &probe.programs {
            for s in &p.snapshots {
                println!("{}: ; after {} ({})", p.name, s.pass, s.pass.doc());
                println!("{}", s.text);
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", probe.listing);
    if !probe.listing.ends_with('\n') {
        println!();
    }
    Ok(ExitCode::SUCCESS)
}

/// `dump --stats`: one row per program, a column per pass.
fn stats_table(file: &Path, opts: &Options) -> Result<ExitCode, Failure> {
    let probe = compile(file, opts)?;
    let passes = ljbpf_build::Pass::ALL;
    let width = probe
        .programs
        .iter()
        .map(|p| p.name.len())
        .chain(["PROGRAM".len()])
        .max()
        .unwrap_or(7);
    let mut head = format!("{:width$}", "PROGRAM");
    for pass in passes {
        head.push_str(&format!(" {:>8}", pass.name()));
    }
    println!("{head}    INSNS  STACK");
    for p in &probe.programs {
        let mut row = format!("{:width$}", p.name);
        for pass in passes {
            let n = p.snapshots.iter().find(|s| s.pass == *pass);
            row.push_str(&format!(" {:>8}", n.map_or(0, |s| s.code.slots())));
        }
        println!("{row} {:>8} {:>6}", p.insn_count, p.stack_bytes);
    }
    Ok(ExitCode::SUCCESS)
}

fn compile_to(file: &Path, output: &Path, opts: &Options) -> Result<ExitCode, Failure> {
    let probe = compile(file, opts)?;
    std::fs::write(output, &probe.elf)
        .map_err(|e| Failure::Other(format!("cannot write {}: {e}", output.display())))?;
    Ok(ExitCode::SUCCESS)
}
