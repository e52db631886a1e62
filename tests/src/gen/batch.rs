//! Batches: compile programs into probe files, run them on every input, and collect the
//! failures; explaining and re-running one failure.

use std::fmt::Write as _;

use super::*;
use ljbpf_build::Isa;

/// Why a program failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// LuaJIT and the kernel disagree.
    Mismatch,
    /// The compiler gave diagnostics for a program the generator thinks is in the subset.
    CompileError,
    /// The compiler panicked.
    Panic,
    /// The verifier rejected a compiled program.
    Verifier,
    /// The reference side failed: a generator defect, not a compiler one.
    Generator,
    /// Running it in the kernel failed (`BPF_PROG_TEST_RUN`, maps).
    Kernel,
    /// The interpreter stopped with a fault (an uninitialised read, an access out of bounds,
    /// something it does not model): a compiler bug or an interpreter gap, named by pass.
    Interpreter,
}

/// Where compiled programs run to be compared with LuaJIT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The kernel (`BPF_PROG_TEST_RUN`): needs root.
    Kernel,
    /// `ljbpf_core::interp`, on the code after every back-end pass and on the final bytes.
    Interp,
    /// Both.
    Both,
}

impl Backend {
    /// Whether programs are loaded and run in the kernel.
    pub fn kernel(self) -> bool {
        matches!(self, Backend::Kernel | Backend::Both)
    }

    /// Whether programs run in the interpreter.
    pub fn interp(self) -> bool {
        matches!(self, Backend::Interp | Backend::Both)
    }
}

impl std::str::FromStr for Backend {
    type Err = String;

    fn from_str(s: &str) -> Result<Backend, String> {
        match s {
            "kernel" => Ok(Backend::Kernel),
            "interp" => Ok(Backend::Interp),
            "both" => Ok(Backend::Both),
            other => Err(format!("unknown backend {other} (kernel, interp, both)")),
        }
    }
}

/// One failing program.
#[derive(Clone, Debug)]
pub struct Failure {
    pub kind: FailureKind,
    /// The program's number in its run (see [`difftest`]).
    pub index: usize,
    pub program: Program,
    /// The input it failed on, if it got that far.
    pub input: Option<Input>,
    /// What went wrong, with the listing when there is one.
    pub detail: String,
}

/// Counts of a batch run.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub programs: usize,
    /// (program, input) pairs compared.
    pub cases: usize,
    pub probe_files: usize,
}

/// Compiles probe text, turning a panic into an error.
pub(crate) fn compile_caught(
    name: &str,
    source: impl AsRef<[u8]>,
    options: &ljbpf_build::Options,
) -> Result<ljbpf_build::CompiledProbe, (bool, String)> {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        ljbpf_build::compile_source(std::path::Path::new(name), source, options)
    }));
    match result {
        Ok(Ok(p)) => Ok(p),
        Ok(Err(d)) => Err((false, d.to_string())),
        Err(panic) => Err((true, panic_message(&panic))),
    }
}

/// The text of a caught panic.
pub fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}

/// A compiled probe file, loaded into the kernel when the backend asks for it.
pub(crate) struct Built {
    pub(crate) compiled: ljbpf_build::CompiledProbe,
    pub(crate) probe: Option<ljbpf_runtime::Probe>,
    pub(crate) defs: Vec<ljbpf_build::core::interp::MapDef>,
}

/// Compiles `programs` as one probe file (keeping the code after every pass for the
/// interpreter) and loads it when `backend` runs the kernel.
pub(crate) fn build(
    programs: &[Program],
    backend: Backend,
    isa: Isa,
) -> Result<Built, (FailureKind, String)> {
    let source = probe_file(programs);
    let mut options = if backend.interp() {
        snapshot_options()
    } else {
        ljbpf_build::Options::default()
    };
    options.isa = isa;
    let compiled = compile_caught("difftest.lua", &source, &options).map_err(|(panicked, d)| {
        let kind = if panicked {
            FailureKind::Panic
        } else {
            FailureKind::CompileError
        };
        (kind, d)
    })?;
    let probe = if backend.kernel() {
        Some(
            ljbpf_runtime::Probe::load(ljbpf_cli::spec(&compiled)).map_err(|e| {
                (
                    FailureKind::Verifier,
                    format!("{e}\nlisting:\n{}", compiled.listing),
                )
            })?,
        )
    } else {
        None
    };
    let defs = map_defs(&compiled);
    Ok(Built {
        compiled,
        probe,
        defs,
    })
}

/// Runs `programs` (as few probe files as possible) on every input; returns failures.
pub fn run_batch(
    reference: &Reference,
    programs: &[(usize, Program)],
    inputs: &[Input],
    backend: Backend,
    isa: Isa,
    stats: &mut Stats,
) -> Vec<Failure> {
    let mut failures = Vec::new();
    let bare: Vec<Program> = programs.iter().map(|p| p.1.clone()).collect();
    match build(&bare, backend, isa) {
        Ok(mut built) => {
            stats.probe_files += 1;
            for (n, (index, p)) in programs.iter().enumerate() {
                stats.programs += 1;
                if let Some(mut f) = check_program(reference, p, &mut built, n, inputs, stats) {
                    f.index = *index;
                    failures.push(f);
                }
            }
        }
        Err(_) if programs.len() > 1 => {
            // Find the culprits one by one.
            let mid = programs.len() / 2;
            failures.extend(run_batch(
                reference,
                &programs[..mid],
                inputs,
                backend,
                isa,
                stats,
            ));
            failures.extend(run_batch(
                reference,
                &programs[mid..],
                inputs,
                backend,
                isa,
                stats,
            ));
        }
        Err((kind, detail)) => {
            stats.programs += 1;
            failures.push(Failure {
                kind,
                index: programs[0].0,
                program: programs[0].1.clone(),
                input: None,
                detail,
            });
        }
    }
    failures
}

/// The interpreter stages of program `p{index}`.
pub fn program_stages(
    compiled: &ljbpf_build::CompiledProbe,
    index: usize,
) -> Result<Vec<Stage>, String> {
    let name = format!("p{index}");
    let program = compiled
        .programs
        .iter()
        .find(|p| p.name == name)
        .ok_or_else(|| format!("no program {name}"))?;
    stages(program)
}

/// Compares program `index` of `built` with LuaJIT on `input` in every backend `built` has:
/// the interpreter (every stage) when it has snapshots, the kernel when it is loaded.
pub(crate) fn compare(
    built: &mut Built,
    stages: &[Stage],
    index: usize,
    input: &Input,
    want: &Observed,
    hook: Hook,
) -> Option<(FailureKind, String)> {
    if !stages.is_empty() {
        if let Some(f) = check_stages(&built.compiled, &built.defs, index, stages, input, want) {
            return Some(f);
        }
    }
    if let Some(probe) = built.probe.as_mut() {
        let got = match run_kernel(probe, index, input, hook) {
            Ok(g) => g,
            Err(e) => return Some((FailureKind::Kernel, e)),
        };
        if *want != got {
            let listing = program_listing(&built.compiled, index);
            return Some((
                FailureKind::Mismatch,
                format!("{}\nlisting:\n{listing}", want.diff(&got).join("\n")),
            ));
        }
    }
    None
}

pub(crate) fn check_program(
    reference: &Reference,
    program: &Program,
    built: &mut Built,
    index: usize,
    inputs: &[Input],
    stats: &mut Stats,
) -> Option<Failure> {
    let fail = |kind, input: Option<&Input>, detail: String| Failure {
        kind,
        index: 0,
        program: program.clone(),
        input: input.cloned(),
        detail,
    };
    let f = match reference.function(program) {
        Ok(f) => f,
        Err(e) => return Some(fail(FailureKind::Generator, None, e)),
    };
    let stages = if built
        .compiled
        .programs
        .iter()
        .any(|p| !p.snapshots.is_empty())
    {
        match program_stages(&built.compiled, index) {
            Ok(s) => s,
            Err(e) => return Some(fail(FailureKind::Interpreter, None, e)),
        }
    } else {
        Vec::new()
    };
    for input in inputs {
        let want = match reference.run(program, &f, input) {
            Ok(w) => w,
            Err(e) => return Some(fail(FailureKind::Generator, Some(input), e)),
        };
        if let Some((kind, detail)) = compare(built, &stages, index, input, &want, program.hook) {
            return Some(fail(kind, Some(input), detail));
        }
        stats.cases += 1;
    }
    None
}

/// The part of a probe listing about program `p{index}`.
pub(crate) fn program_listing(compiled: &ljbpf_build::CompiledProbe, index: usize) -> String {
    let name = format!("p{index}");
    let mut out = String::new();
    let mut inside = false;
    for line in compiled.listing.lines() {
        let header = !line.starts_with(' ') && !line.starts_with('\t') && line.contains(':');
        if header && !line.trim_start().starts_with(|c: char| c.is_ascii_digit()) {
            inside = line.contains(&name)
                && line
                    .split(|c: char| !c.is_alphanumeric() && c != '_')
                    .any(|w| w == name);
        }
        if inside {
            out.push_str(line);
            out.push('\n');
        }
    }
    if out.is_empty() {
        compiled.listing.clone()
    } else {
        out
    }
}

/// Whether `program` still fails the way `kind` says on `input` (compiled alone, run in
/// `backend`).
pub fn still_fails(
    reference: &Reference,
    program: &Program,
    kind: &FailureKind,
    input: Option<&Input>,
    backend: Backend,
    isa: Isa,
) -> bool {
    if !program.bounded() {
        return false;
    }
    let f = match reference.function(program) {
        Ok(f) => f,
        Err(_) => return false,
    };
    // The reference must run cleanly on the input (or on a default one), so that a candidate
    // never "fails" only because it is not valid Lua any more.
    let probe_input = input
        .cloned()
        .unwrap_or_else(|| Input::generate(&mut Rng::new(0)));
    let Ok(want) = reference.run(program, &f, &probe_input) else {
        return false;
    };
    match build(std::slice::from_ref(program), backend, isa) {
        Ok(mut built) => {
            if !matches!(kind, FailureKind::Mismatch | FailureKind::Interpreter) {
                return false;
            }
            let stages = if backend.interp() {
                match program_stages(&built.compiled, 0) {
                    Ok(s) => s,
                    Err(_) => return false,
                }
            } else {
                Vec::new()
            };
            compare(&mut built, &stages, 0, &probe_input, &want, program.hook)
                .is_some_and(|(k, _)| k == *kind)
        }
        Err((k, detail)) => {
            // A diagnostic that is about the candidate being broken (undefined name) is not
            // the failure we are after.
            k == *kind && !detail.contains("unknown global") && !detail.contains("undefined")
        }
    }
}

/// What `program` does wrong on `input` now in `backend`: the differences (naming the pass
/// after which the interpreter's results first differ) and the listing, or the diagnostics /
/// verifier rejection.
pub fn explain(
    reference: &Reference,
    program: &Program,
    input: Option<&Input>,
    backend: Backend,
    isa: Isa,
) -> String {
    let input = input
        .cloned()
        .unwrap_or_else(|| Input::generate(&mut Rng::new(0)));
    let want = reference
        .function(program)
        .and_then(|f| reference.run(program, &f, &input));
    match build(std::slice::from_ref(program), backend, isa) {
        Ok(mut built) => {
            let want = match want {
                Ok(w) => w,
                Err(e) => return format!("reference: {e}"),
            };
            let stages = if backend.interp() {
                match program_stages(&built.compiled, 0) {
                    Ok(s) => s,
                    Err(e) => return format!("interpreter: {e}"),
                }
            } else {
                Vec::new()
            };
            let diff = match compare(&mut built, &stages, 0, &input, &want, program.hook) {
                None => "(no difference)".to_owned(),
                Some((kind, detail)) => format!("{kind:?}: {detail}"),
            };
            format!("{diff}\nlisting:\n{}", built.compiled.listing)
        }
        Err((kind, detail)) => format!("{kind:?}: {detail}"),
    }
}

/// A minimised failing program as a probe file, with the input, a `ljbpf test-run` command
/// line and `detail` (see [`explain`]) as comments.
pub fn regression_file(failure: &Failure, minimised: &Program, detail: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "-- ljbpf difftest failure: {:?}", failure.kind);
    if let Some(input) = &failure.input {
        let _ = writeln!(s, "-- input: {}", input.describe());
        let hex: String = minimised
            .hook
            .packet(input)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let _ = writeln!(
            s,
            "-- run: ljbpf test-run FILE --program p0 --data {hex}\n--   (maps m and w start as zeros there, not as in the input above)"
        );
    }
    for line in detail.lines() {
        let _ = writeln!(s, "-- {line}");
    }
    let _ = writeln!(s, "-- reference (LuaJIT) body:");
    for line in minimised.reference_source().lines() {
        let _ = writeln!(s, "--   {line}");
    }
    s.push_str(&minimised.probe_source());
    s
}

/// A differential test run.
#[derive(Clone, Debug)]
pub struct Run {
    pub seed: u64,
    /// Programs to generate, numbered from 0.
    pub programs: usize,
    /// Input sets per program.
    pub inputs: usize,
    /// Programs per probe file.
    pub per_file: usize,
    /// Programs (by number) generated but not run: known compiler bugs.
    pub skip: Vec<usize>,
    /// Where the compiled programs run.
    pub backend: Backend,
    /// The instruction-set level they are compiled for.
    pub isa: Isa,
}

impl Run {
    /// Program `index` of the run as it runs: in the kernel, every third program is an XDP
    /// program and every third a tc program (direct packet access), the rest socket filters
    /// (`LD_ABS`); the interpreter runs socket filters only.
    fn program(&self, index: usize, mut p: Program) -> Program {
        if self.backend == Backend::Kernel {
            p.hook = Hook::ALL[index % Hook::ALL.len()];
        }
        p
    }
}

/// Generates the run's programs and inputs from its seed (the stream does not depend on
/// `skip`), runs them `per_file` programs per probe file, and returns the failures.
pub fn difftest(run: &Run, stats: &mut Stats) -> Vec<Failure> {
    let reference = Reference::new();
    let mut rng = Rng::new(run.seed);
    let mut failures = Vec::new();
    let mut done = 0;
    while done < run.programs {
        let n = run.per_file.min(run.programs - done);
        let programs: Vec<(usize, Program)> = (done..done + n)
            .map(|index| (index, run.program(index, Program::generate(&mut rng))))
            .collect();
        let inputs: Vec<Input> = (0..run.inputs).map(|_| Input::generate(&mut rng)).collect();
        let programs: Vec<(usize, Program)> = programs
            .into_iter()
            .filter(|(index, _)| !run.skip.contains(index))
            .collect();
        if !programs.is_empty() {
            failures.extend(run_batch(
                &reference,
                &programs,
                &inputs,
                run.backend,
                run.isa,
                stats,
            ));
        }
        done += n;
    }
    failures
}

/// Program `index` of a run and the inputs it ran on.
pub fn program_of(run: &Run, index: usize) -> (Program, Vec<Input>) {
    let mut rng = Rng::new(run.seed);
    let mut done = 0;
    loop {
        let n = run.per_file.min(run.programs.max(index + 1) - done);
        let programs: Vec<Program> = (done..done + n)
            .map(|i| run.program(i, Program::generate(&mut rng)))
            .collect();
        let inputs: Vec<Input> = (0..run.inputs).map(|_| Input::generate(&mut rng)).collect();
        if index < done + n {
            return (programs[index - done].clone(), inputs);
        }
        done += n;
    }
}
