//! Robustness fuzzing with a fixed seed: random and mutated probe files (generated programs,
//! fragments in broken declarations, odd types, huge functions, byte mutations of the corpus).
//! The compiler returns a program or diagnostics, never a panic or an internal error, and every
//! program it compiles passes the kernel verifier. Longer runs: `cargo run --release -p
//! ljbpf-tests --bin fuzz -- --files 100000 --seed 1`.

use ljbpf_tests::gen::{self, FuzzStats, Rng, Verdict};
use ljbpf_tests::{compile_str, kernel_ready};

const SEED: u64 = 20_250_601;
const FILES: usize = 400;

#[test]
fn compiled_means_verified() {
    // Without root the compiler is still checked; the verifier part needs the kernel.
    let kernel = kernel_ready("compiled_means_verified (verifier part)");
    let corpus = gen::corpus();
    assert!(!corpus.is_empty(), "no corpus files");
    let mut rng = Rng::new(SEED);
    let mut stats = FuzzStats::default();
    let mut defects = Vec::new();
    let start = std::time::Instant::now();
    for n in 0..FILES {
        let source = gen::fuzz_source(&mut rng, &corpus);
        let verdict = gen::fuzz_one(&format!("fuzz{n}.lua"), &source, kernel);
        stats.add(&verdict);
        match &verdict {
            Verdict::Panic(m)
            | Verdict::InternalError(m)
            | Verdict::VerifierRejected(m)
            | Verdict::Crash(m)
            | Verdict::Hang(m) => {
                defects.push(format!(
                    "file {n}: {verdict:?}\n{m}\nsource:\n{}",
                    String::from_utf8_lossy(&source)
                ));
            }
            Verdict::Verified
            | Verdict::Rejected
            | Verdict::CompiledUnchecked
            | Verdict::TimeLimited => {}
        }
    }
    println!("fuzz seed {SEED}: {stats} in {:?}", start.elapsed());
    assert!(
        defects.is_empty(),
        "{} defects:\n\n{}",
        defects.len(),
        defects.join("\n\n")
    );
    // The mix must exercise both outcomes.
    assert!(stats.compiled > FILES / 10, "{stats}");
    assert!(stats.rejected_by_compiler > FILES / 10, "{stats}");
}

/// Compiles `source`, which must be rejected by the compiler rather than by the kernel
/// (these once compiled and then failed in the kernel: `defect` says how).
fn must_not_compile(defect: &str, source: &str) {
    match compile_str(&format!("{defect}.lua"), source) {
        Err(_) => {}
        Ok(compiled) => {
            let verifier = if kernel_ready(defect) {
                match ljbpf_runtime::Probe::load(ljbpf_cli::spec(&compiled)) {
                    Ok(_) => "the kernel loads it".to_owned(),
                    Err(e) => format!("the kernel rejects it: {e}"),
                }
            } else {
                String::new()
            };
            panic!("COMPILER BUG ({defect}): this compiles; {verifier}\n{source}");
        }
    }
}

#[test]
fn endless_loops_do_not_compile() {
    for body in ["while true do end", "::top:: goto top"] {
        must_not_compile(
            "unbounded-loop",
            &format!("return {{\n  f = bpf.socket(function (skb)\n    {body}\n  end),\n}}\n"),
        );
    }
}

#[test]
fn names_must_be_c_identifiers() {
    must_not_compile(
        "bad-name",
        "return {\n  ['bad-name'] = bpf.socket(function (skb) return 0 end),\n}\n",
    );
    must_not_compile(
        "bad-name",
        "local m = bpf.map('array', 4)\nreturn {\n  ['m-x'] = m,\n  \
         f = bpf.socket(function (skb) m[0] = 1 return 0 end),\n}\n",
    );
}

#[test]
fn array_maps_need_4_byte_keys() {
    for key in ["uint64_t", "int8_t"] {
        must_not_compile(
            "array-key",
            &format!(
                "local m = bpf.map('array', 4, '{key}', 'uint64_t')\nreturn {{\n  m = m,\n  \
                 f = bpf.socket(function (skb) m[1] = 2 return 0 end),\n}}\n"
            ),
        );
    }
}

/// The name generator alone: keyword and colliding names and non-UTF-8 bytes are either
/// compiled into bindings that parse and declare each item once, or refused cleanly; both
/// happen.
#[test]
fn keyword_and_colliding_names() {
    let mut rng = Rng::new(SEED);
    let mut stats = FuzzStats::default();
    let mut defects = Vec::new();
    for n in 0..150 {
        let source = gen::names_file(&mut rng);
        let verdict = gen::fuzz_one(&format!("names{n}.lua"), &source, false);
        stats.add(&verdict);
        if let Verdict::Panic(m)
        | Verdict::InternalError(m)
        | Verdict::Crash(m)
        | Verdict::Hang(m) = &verdict
        {
            defects.push(format!(
                "file {n}: {m}\nsource:\n{}",
                String::from_utf8_lossy(&source)
            ));
        }
    }
    assert!(defects.is_empty(), "{}", defects.join("\n\n"));
    assert!(
        stats.compiled > 10 && stats.rejected_by_compiler > 10,
        "{stats}"
    );
}

/// A NUL byte in a program line (here in a comment) compiles: the line is quoted in the BTF line
/// info, whose strings end at a NUL (found by the fuzzer: "cannot encode BTF").
#[test]
fn nul_byte_in_a_program_line_compiles() {
    let source = "local m = bpf.map('array', 4)\nreturn { m = m, p = bpf.socket(function (skb)\n  xadd(m[1], 1) -- a\0b\nend) }\n";
    let probe = compile_str("nul.lua", source).expect("compiles");
    // The line is in the BTF line info with the NUL written as `\0`.
    assert!(
        probe.elf.windows(4).any(|w| w == b"a\\0b"),
        "line text not in .BTF"
    );
}
