//! Standalone differential tester: random programs run in LuaJIT and in the kernel and/or the
//! interpreter (`ljbpf_core::interp`, on the code after every back-end pass).
//!
//! ```text
//! difftest [--cases N] [--seed S] [--inputs K] [--per-file P] [--out DIR]
//!          [--backend interp|kernel|both] [--isa v1|v2|v3|v4]
//! ```
//!
//! A case is one program run on one input set; each program runs on `K` input sets (default 4)
//! and `P` programs (default 24) share one probe file. Prints cases/s. Every failing program
//! is minimised (statements dropped, expressions reduced while the failure persists) and
//! written to `DIR` (default `difftest-failures`) as a probe file ready to become a
//! regression test. Exit status 1 when anything failed. The kernel backends (`kernel`, `both`;
//! the default is `both` as root, `interp` otherwise) need root.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use ljbpf_build::Isa;
use ljbpf_tests::gen::{self, Backend, FailureKind, Reference, Stats};

struct Args {
    cases: usize,
    seed: u64,
    inputs: usize,
    per_file: usize,
    out: PathBuf,
    backend: Backend,
    isa: Isa,
}

fn parse() -> Result<Args, String> {
    let mut args = Args {
        cases: 10_000,
        seed: 1,
        inputs: 4,
        per_file: 24,
        out: PathBuf::from("difftest-failures"),
        backend: if root() {
            Backend::Both
        } else {
            Backend::Interp
        },
        isa: Isa::default(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let num = |v: String| -> Result<u64, String> {
            let v = v.replace('_', "");
            match v.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => v.parse(),
            }
            .map_err(|e| format!("{flag}: {e}"))
        };
        match flag.as_str() {
            "--cases" => args.cases = num(value()?)? as usize,
            "--seed" => args.seed = num(value()?)?,
            "--inputs" => args.inputs = (num(value()?)? as usize).max(1),
            "--per-file" => args.per_file = (num(value()?)? as usize).max(1),
            "--out" => args.out = PathBuf::from(value()?),
            "--backend" => args.backend = value()?.parse()?,
            "--isa" => args.isa = value()?.parse()?,
            "-h" | "--help" => return Err(
                "usage: difftest [--cases N] [--seed S] [--inputs K] [--per-file P] [--out DIR] [--backend interp|kernel|both] [--isa v1|v2|v3|v4]"
                    .to_owned(),
            ),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

fn root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if args.backend.kernel() && !root() {
        eprintln!("difftest runs programs in the kernel (BPF_PROG_TEST_RUN): run it as root, or use --backend interp");
        return ExitCode::from(2);
    }
    let programs = args.cases.div_ceil(args.inputs);
    let start = Instant::now();
    let mut stats = Stats::default();
    let run = gen::Run {
        seed: args.seed,
        programs,
        inputs: args.inputs,
        per_file: args.per_file,
        skip: Vec::new(),
        backend: args.backend,
        isa: args.isa,
    };
    let failures = gen::difftest(&run, &mut stats);
    let secs = start.elapsed().as_secs_f64();
    println!(
        "difftest seed {} ({:?}, ISA {}): {} programs in {} probe files, {} cases in {secs:.1} s ({:.0} cases/s, {:.0} programs/s), {} failing programs",
        args.seed,
        args.backend,
        args.isa,
        stats.programs,
        stats.probe_files,
        stats.cases,
        stats.cases as f64 / secs,
        stats.programs as f64 / secs,
        failures.len()
    );
    if failures.is_empty() {
        return ExitCode::SUCCESS;
    }
    if let Err(e) = std::fs::create_dir_all(&args.out) {
        eprintln!("cannot create {}: {e}", args.out.display());
    }
    let reference = Reference::new();
    for failure in &failures {
        let kind = failure.kind.clone();
        let input = failure.input.clone();
        let minimised = if kind == FailureKind::Generator {
            failure.program.clone()
        } else {
            gen::shrink(&failure.program, &mut |p| {
                gen::still_fails(&reference, p, &kind, input.as_ref(), args.backend, args.isa)
            })
        };
        let detail = gen::explain(
            &reference,
            &minimised,
            input.as_ref(),
            args.backend,
            args.isa,
        );
        let text = gen::regression_file(failure, &minimised, &detail);
        let path = args.out.join(
            format!("seed{}-program{}-{kind:?}.lua", args.seed, failure.index).to_lowercase(),
        );
        match std::fs::write(&path, &text) {
            Ok(()) => println!(
                "{kind:?}: minimised from {} to {} nodes: {}",
                failure.program.size(),
                minimised.size(),
                path.display()
            ),
            Err(e) => eprintln!("cannot write {}: {e}", path.display()),
        }
        println!("{}", detail.lines().take(4).collect::<Vec<_>>().join("\n"));
    }
    ExitCode::from(1)
}
