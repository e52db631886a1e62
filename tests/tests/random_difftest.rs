//! Random programs run in LuaJIT, in the kernel and in the interpreter must agree (see
//! `ljbpf_tests::gen` for the generator, the inputs and the reference's documented deviations).
//!
//! Kernel (root only): a fixed seed, 600 programs x 4 input sets (2,400 cases), 24 programs per
//! probe file. Interpreter (any user): 1,250 programs x 8 input sets (10,000 cases), each run
//! on the code after every back-end pass and on the final bytes, so a mismatch names the pass
//! that introduced it. A failure prints the program minimised (statements dropped,
//! expressions reduced while it still fails) as a probe file. For longer runs: `cargo run
//! --release -p ljbpf-tests --bin difftest -- --cases 100000 --seed 1 --backend interp`.

use ljbpf_build::Isa;
use ljbpf_tests::gen::{self, Backend, Failure, FailureKind, Reference, Run, Stats};
use ljbpf_tests::kernel_ready;

const SEED: u64 = 20_250_601;
const PROGRAMS: usize = 600;
const INPUTS: usize = 4;
const PER_FILE: usize = 24;
const INTERP_SEED: u64 = 20_261_201;
const INTERP_PROGRAMS: usize = 1_250;
const INTERP_INPUTS: usize = 8;
const INTERP_CASES: usize = 10_000;

/// Compiler defects found by this test, minimised by hand and fixed: (what was wrong, probe
/// file, packet fields (a, c, d) as in `gen::Input`, expected return value).
type KnownBug = (&'static str, &'static str, (i32, u32, u8), u32);

const KNOWN_BUGS: &[KnownBug] = &[(
    "a copy `local n = c` is coalesced with c although c is reassigned (`c = d`) while n is \
     live across the later `if`: returns d instead of c",
    "return {
  f = bpf.socket(function (skb)
    local a = ntoh(pkt.ip.src)
    local c = ntoh(pkt.ip.tcp.seq_num)
    local d = pkt.ip.ttl
    if a == 1 then a = 5 end
    local n = c
    c = d
    if a == 2 then a = 3 end
    return n
  end),
}
",
    (1, 9, 7),
    9,
)];

fn run(skip: Vec<usize>) -> Run {
    Run {
        seed: SEED,
        programs: PROGRAMS,
        inputs: INPUTS,
        per_file: PER_FILE,
        skip,
        backend: Backend::Kernel,
        isa: Isa::default(),
    }
}

/// A failure with its program minimised, as text for the test output.
fn report(
    reference: &Reference,
    failure: &Failure,
    minimise: bool,
    backend: Backend,
    isa: Isa,
) -> String {
    let program = if minimise && failure.kind != FailureKind::Generator {
        let kind = failure.kind.clone();
        let input = failure.input.clone();
        gen::shrink(&failure.program, &mut |p| {
            gen::still_fails(reference, p, &kind, input.as_ref(), backend, isa)
        })
    } else {
        failure.program.clone()
    };
    let detail = gen::explain(reference, &program, failure.input.as_ref(), backend, isa);
    format!(
        "program {} ({:?}), minimised from {} to {} nodes:\n{}",
        failure.index,
        failure.kind,
        failure.program.size(),
        program.size(),
        gen::regression_file(failure, &program, &detail)
    )
}

/// Runs `run` and panics with the first failures, minimised.
fn check(name: &str, run: &Run, min_cases: usize) {
    let start = std::time::Instant::now();
    let mut stats = Stats::default();
    let failures = gen::difftest(run, &mut stats);
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{name} seed {} ({:?}): {} programs in {} probe files, {} cases, {:.1} s ({:.0} cases/s), {} failing",
        run.seed,
        run.backend,
        stats.programs,
        stats.probe_files,
        stats.cases,
        secs,
        stats.cases as f64 / secs,
        failures.len()
    );
    if !failures.is_empty() {
        let reference = Reference::new();
        let reports: Vec<String> = failures
            .iter()
            .take(3)
            .map(|f| report(&reference, f, true, run.backend, run.isa))
            .collect();
        panic!(
            "{} of {} programs fail (first {} shown, minimised):\n\n{}",
            failures.len(),
            stats.programs,
            reports.len(),
            reports.join("\n\n")
        );
    }
    assert!(
        stats.cases >= min_cases,
        "only {} cases compared",
        stats.cases
    );
}

#[test]
fn random_programs_agree() {
    if !kernel_ready("random_programs_agree") {
        return;
    }
    check("random difftest", &run(Vec::new()), 2000);
}

/// No root needed: LuaJIT against the interpreter, on the code after every pass.
#[test]
fn random_programs_agree_in_interpreter() {
    let run = Run {
        seed: INTERP_SEED,
        programs: INTERP_PROGRAMS,
        inputs: INTERP_INPUTS,
        per_file: PER_FILE,
        skip: Vec::new(),
        backend: Backend::Interp,
        isa: Isa::default(),
    };
    check("interpreter difftest", &run, INTERP_CASES);
}

/// Every ISA level computes what LuaJIT does: the levels below v4 run legalised signed
/// division, modulo and sign extension (and, at v1, swapped or inverted jumps). In the
/// interpreter always; in the kernel too when privileged.
#[test]
fn every_isa_level_agrees() {
    for (i, isa) in Isa::ALL.iter().enumerate() {
        let run = Run {
            seed: INTERP_SEED + 1 + i as u64,
            programs: 250,
            inputs: 8,
            per_file: PER_FILE,
            skip: Vec::new(),
            backend: Backend::Interp,
            isa: *isa,
        };
        check(&format!("interpreter difftest at {isa}"), &run, 2_000);
    }
    if !kernel_ready("every_isa_level_agrees (kernel part)") {
        return;
    }
    for (i, isa) in Isa::ALL.iter().enumerate() {
        let run = Run {
            seed: SEED + 1 + i as u64,
            programs: 100,
            inputs: 4,
            per_file: PER_FILE,
            skip: Vec::new(),
            backend: Backend::Kernel,
            isa: *isa,
        };
        check(&format!("kernel difftest at {isa}"), &run, 400);
    }
}

#[test]
fn regressions_found_by_difftest() {
    if !kernel_ready("regressions_found_by_difftest") {
        return;
    }
    let mut still = Vec::new();
    for (why, source, (a, c, d), want) in KNOWN_BUGS {
        let compiled = ljbpf_tests::compile_ok("known.lua", source);
        let probe = ljbpf_tests::load(&compiled);
        let input = gen::Input {
            a: *a,
            b: 0,
            c: *c,
            d: *d,
            x: 0,
            m: [0; gen::MAP_LEN],
            w: [0; gen::MAP_LEN],
        };
        let got = probe.test_run("f", &input.packet(), 1).expect("test_run");
        if got.retval != *want {
            still.push(format!(
                "COMPILER BUG: {why}\nexpected {want}, kernel returned {}\n{source}\nlisting:\n{}",
                got.retval, compiled.listing
            ));
        }
    }
    assert!(still.is_empty(), "{}", still.join("\n\n"));
}

/// The generator alone (no kernel): deterministic, bounded, and every program is valid Lua
/// that LuaJIT runs without an error.
#[test]
fn generator_is_deterministic_and_valid() {
    let reference = Reference::new();
    let mut r1 = gen::Rng::new(7);
    let mut r2 = gen::Rng::new(7);
    for _ in 0..200 {
        let p = gen::Program::generate(&mut r1);
        assert_eq!(p, gen::Program::generate(&mut r2));
        assert!(p.bounded());
        let input = gen::Input::generate(&mut r1);
        let _ = gen::Input::generate(&mut r2);
        let f = reference.function(&p).expect("reference loads");
        if let Err(e) = reference.run(&p, &f, &input) {
            panic!("{e}\n{}", p.reference_source());
        }
    }
}

/// The kernel run's programs contain every everyday shape of issue 10 (`gen::Shape`, with
/// `lpm_trie` lookups and updates), each form of the nil-on-some-paths local, every kind of
/// string a slice is compared with, and all three program kinds: the difftest above would
/// see a defect in any of them.
#[test]
fn generator_makes_every_everyday_shape() {
    use std::collections::BTreeSet;

    fn walk(stmts: &[gen::Stmt], seen: &mut BTreeSet<String>) {
        for s in stmts {
            match s {
                gen::Stmt::Shape(sh) => {
                    let name = format!("{sh:?}");
                    let variant = name.split([' ', '{']).next().unwrap_or("").to_owned();
                    match sh {
                        gen::Shape::Maybe { form, .. } => {
                            seen.insert(format!("Maybe form {form}"));
                        }
                        gen::Shape::Slice { string, .. } => {
                            let class = if string.starts_with("ST.") {
                                "table field"
                            } else if string.starts_with('S') {
                                "upvalue"
                            } else {
                                "literal"
                            };
                            seen.insert(format!("Slice {class}"));
                        }
                        gen::Shape::MapOr { map, .. } => {
                            seen.insert(format!("MapOr {map:?}"));
                        }
                        gen::Shape::ModLoop { sums: true, .. } => {
                            seen.insert("ModLoop sums".to_owned());
                        }
                        gen::Shape::Moved { k, mult, .. } if *mult > 0 && *k > 0 => {
                            seen.insert("Moved before the start".to_owned());
                        }
                        _ => {}
                    }
                    seen.insert(variant);
                }
                gen::Stmt::If(arms, els) => {
                    for (_, body) in arms {
                        walk(body, seen);
                    }
                    if let Some(body) = els {
                        walk(body, seen);
                    }
                }
                _ => {}
            }
        }
    }
    let mut seen = BTreeSet::new();
    let mut hooks = BTreeSet::new();
    for p in gen::programs_of(&run(Vec::new())) {
        hooks.insert(format!("{:?}", p.hook));
        walk(&p.body, &mut seen);
    }
    let want = [
        "Maybe form 0",
        "Maybe form 1",
        "Maybe form 2",
        "Maybe form 3",
        "MaybeReturn",
        "MixedSum",
        "BoolOr",
        "MapOr M",
        "MapOr W",
        "Slice upvalue",
        "Slice table field",
        "Slice literal",
        "SliceSlice",
        "Moved before the start",
        "ModLoop",
        "LabelWalk",
        "ModLoop sums",
        "Lpm",
    ];
    let missing: Vec<&str> = want
        .iter()
        .copied()
        .filter(|w| !seen.contains(*w))
        .collect();
    assert!(missing.is_empty(), "shapes never generated: {missing:?}");
    assert_eq!(hooks.len(), 3, "program kinds: {hooks:?}");
    // Strings with bytes >= 0x80 are among the compared ones.
    assert!(
        gen::UPVALUE_STRINGS
            .iter()
            .any(|(_, text)| text.contains(r"\255") || text.contains(r"\200")),
        "no upvalue string with a byte >= 0x80"
    );
}

/// The generator reaches `math.log2` (docs/language.md's integer logarithm, computed without
/// branches) of numbers, int64 and uint64, so the difftest sees 0, negative values and values
/// from 2^63 up there.
#[test]
fn the_generator_makes_log2_of_every_type() {
    let mut rng = gen::Rng::new(SEED);
    let (mut probe, mut reference) = (0, 0);
    for _ in 0..400 {
        let p = gen::Program::generate(&mut rng);
        probe += p.probe_source().matches("math.log2(").count();
        reference += p.reference_source().matches("ilog2(").count();
    }
    assert!(probe >= 20, "{probe} math.log2 calls in 400 programs");
    assert_eq!(probe, reference);
}
