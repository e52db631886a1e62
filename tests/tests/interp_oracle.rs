//! The interpreter as an oracle for the back end (no root needed):
//!
//! - every socket filter of the corpus runs after every pass (and from its final bytes) on the
//!   same packets and maps, and all stages agree (return value, map contents, events);
//! - the oracle can fail: mutating one pass's code (a flipped jump condition, a changed ALU
//!   operation) is caught, and the report names that pass.

use std::path::Path;

use ljbpf_build::core::insn::{AluOp, Insn};
use ljbpf_build::core::interp::{Event, Machine};
use ljbpf_build::ProgramKind;
use ljbpf_tests::gen::{self, Input, Program, Reference, Rng, Stage, StageCode};
use ljbpf_tests::{frame, ipv4_frame, root};

/// Packets the corpus filters see: TCP, UDP (DNS-like), IPv6, ARP, a runt.
fn packets() -> Vec<Vec<u8>> {
    let mut dns = vec![0x30, 0x39, 0x00, 0x35, 0, 20, 0, 0];
    dns.extend_from_slice(&[
        0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, b'w', b'w', b'w', 0,
    ]);
    let mut http = vec![
        0x30, 0x39, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0, 0,
    ];
    http.extend_from_slice(&[0, 0, 0, 0]);
    http.extend_from_slice(b"GET / HTTP/1.1\r\n");
    let mut ip6 = vec![0x60, 0, 0, 0, 0, 8, 17, 64];
    ip6.extend((0..32).map(|i| i as u8));
    ip6.extend_from_slice(&[0, 53, 0, 53, 0, 8, 0, 0]);
    vec![
        ipv4_frame(64, 6, &http),
        ipv4_frame(1, 17, &dns),
        ipv4_frame(255, 1, &[8, 0, 0, 0]),
        frame(0x86dd, &ip6),
        frame(0x0806, &[0, 1, 8, 0, 6, 4, 0, 1]),
        vec![0; 20],
    ]
}

/// What one stage did on one packet (maps and events after a run on fresh maps).
#[derive(Debug, PartialEq)]
struct Outcome {
    ret: Result<u64, String>,
    maps: Vec<Vec<(Vec<u8>, Vec<u8>)>>,
    events: Vec<Event>,
}

/// What one stage does on `pkt`; only the low `ret_bits` of the return value count (the kind's
/// caller reads no more, so a pass may leave the rest different).
fn outcome(
    defs: &[ljbpf_build::core::interp::MapDef],
    code: &StageCode,
    pkt: &[u8],
    ret_bits: u8,
) -> Outcome {
    let mut m: Machine = gen::socket_machine(defs, pkt);
    let ret = gen::run_stage(&mut m, code)
        .map(|r| r & (u64::MAX >> (64 - u32::from(ret_bits))))
        .map_err(|f| f.to_string());
    Outcome {
        ret,
        maps: (0..defs.len()).map(|i| m.map_entries(i)).collect(),
        events: std::mem::take(&mut m.events),
    }
}

#[test]
fn corpus_socket_filters_agree_after_every_pass() {
    let mut files: Vec<_> = std::fs::read_dir(root().join("corpus"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "lua"))
        .collect();
    files.sort();
    let (mut programs, mut runs, mut faults) = (0, 0, Vec::new());
    let mut bad = Vec::new();
    for f in &files {
        let source = std::fs::read_to_string(f).unwrap();
        let name = format!("corpus/{}", f.file_name().unwrap().to_string_lossy());
        let probe = match ljbpf_build::compile_source(
            Path::new(&name),
            &source,
            &gen::snapshot_options(),
        ) {
            Ok(p) => p,
            // Tracepoint formats are readable by root only; files that need them are skipped
            // without root (their socket filters are checked as root).
            Err(d) if d.to_string().contains("Permission denied") => {
                println!("skipping {name} (needs tracefs): {d}");
                continue;
            }
            Err(d) => panic!("{name}: {d}"),
        };
        let defs = gen::map_defs(&probe);
        for prog in &probe.programs {
            if !matches!(prog.kind, ProgramKind::SocketFilter { .. }) {
                continue;
            }
            programs += 1;
            let stages: Vec<Stage> = gen::stages(prog).unwrap();
            let bits = prog.kind.class().return_bits();
            assert_eq!(stages.len(), ljbpf_build::Pass::ALL.len() + 1);
            for pkt in packets() {
                let first = outcome(&defs, &stages[0].code, &pkt, bits);
                if let Err(e) = &first.ret {
                    faults.push(format!("{name}/{}: {e}", prog.name));
                }
                for (prev, stage) in stages.iter().zip(&stages[1..]) {
                    runs += 1;
                    let got = outcome(&defs, &stage.code, &pkt, bits);
                    if got != first {
                        bad.push(format!(
                            "{name}/{}: results first differ after pass `{}` (`{}` agrees with \
                             `lower`):\n  {:?}\n  vs {:?}\ncode after `{}`:\n{}",
                            prog.name, stage.name, prev.name, first, got, stage.name, stage.text
                        ));
                        break;
                    }
                }
            }
        }
    }
    println!(
        "{programs} corpus socket filters, {runs} stage runs, {} runs ended in a fault in every stage",
        faults.len()
    );
    for f in &faults {
        println!("  {f}");
    }
    assert!(programs >= 6, "only {programs} socket filters");
    assert!(bad.is_empty(), "{}", bad.join("\n\n"));
    // The interpreter runs the corpus filters to their end on most packets.
    let pairs = programs * packets().len();
    assert!(faults.len() * 2 <= pairs, "{faults:?}");
}

/// A mutation of the instruction at `at` in a stage's code, if it applies there.
fn mutate<R: Copy>(insn: &Insn<R>, kind: usize) -> Option<Insn<R>> {
    match (*insn, kind) {
        (
            Insn::Jmp {
                op,
                dst,
                src,
                target,
            },
            0,
        ) => Some(Insn::Jmp {
            op: op.negate()?,
            dst,
            src,
            target,
        }),
        (
            Insn::Alu64 {
                op: AluOp::Add,
                dst,
                src,
            },
            1,
        ) => Some(Insn::Alu64 {
            op: AluOp::Sub,
            dst,
            src,
        }),
        (
            Insn::Alu64 {
                op: AluOp::Xor,
                dst,
                src,
            },
            1,
        ) => Some(Insn::Alu64 {
            op: AluOp::Or,
            dst,
            src,
        }),
        _ => None,
    }
}

/// The places of `code` where mutation `kind` applies.
fn sites(code: &StageCode, kind: usize) -> Vec<usize> {
    fn find<R: Copy>(insns: &[Insn<R>], kind: usize) -> Vec<usize> {
        (0..insns.len())
            .filter(|&i| mutate(&insns[i], kind).is_some())
            .collect()
    }
    match code {
        StageCode::Virtual(p) => find(&p.insns, kind),
        StageCode::Physical(p) => find(&p.insns, kind),
    }
}

/// Applies mutation `kind` at instruction `at`.
fn mutate_at(code: &mut StageCode, kind: usize, at: usize) {
    fn apply<R: Copy>(insns: &mut [Insn<R>], kind: usize, at: usize) {
        insns[at] = mutate(&insns[at], kind).expect("a site");
    }
    match code {
        StageCode::Virtual(p) => apply(&mut p.insns, kind, at),
        StageCode::Physical(p) => apply(&mut p.insns, kind, at),
    }
}

#[test]
fn mutated_passes_are_caught_and_named() {
    let reference = Reference::new();
    let mut rng = Rng::new(99);
    let (mut tried, mut caught) = (0, 0);
    let mut misnamed = Vec::new();
    let mut caught_at = vec![0usize; ljbpf_build::Pass::ALL.len() + 1];
    for _ in 0..12 {
        // Without lpm_trie shapes: the interpreter's maps find keys exactly.
        let program: Program = Program::generate(&mut rng).without_lpm();
        // Enough inputs to reach both sides of most range checks and sign fixes (with 8, a
        // flipped jump escaped four times in five).
        let inputs: Vec<Input> = (0..32).map(|_| Input::generate(&mut rng)).collect();
        let source = gen::probe_file(std::slice::from_ref(&program));
        let probe =
            ljbpf_build::compile_source(Path::new("mutant.lua"), &source, &gen::snapshot_options())
                .expect("generated programs compile");
        let defs = gen::map_defs(&probe);
        let clean = gen::program_stages(&probe, 0).unwrap();
        let f = reference.function(&program).unwrap();
        let wants: Vec<_> = inputs
            .iter()
            .map(|i| reference.run(&program, &f, i).unwrap())
            .collect();
        for (i, w) in inputs.iter().zip(&wants) {
            assert!(gen::check_stages(&probe, &defs, 0, &clean, i, w).is_none());
        }
        // One mutant per stage and kind: one instruction of that stage's code changed (a
        // site picked at random), every other stage left alone.
        for victim in 0..clean.len() {
            for kind in 0..2 {
                let at = sites(&clean[victim].code, kind);
                if at.is_empty() {
                    continue;
                }
                let mut stages = clean.clone();
                mutate_at(&mut stages[victim].code, kind, *rng.pick(&at));
                tried += 1;
                let report = inputs
                    .iter()
                    .zip(&wants)
                    .find_map(|(i, w)| gen::check_stages(&probe, &defs, 0, &stages, i, w));
                if let Some((_, text)) = report {
                    caught += 1;
                    caught_at[victim] += 1;
                    let want = format!("after pass `{}`", stages[victim].name);
                    if !text.contains(&want) {
                        misnamed.push(format!("wanted {want:?} in:\n{text}"));
                    }
                }
            }
        }
    }
    println!("{caught} of {tried} mutants caught");
    assert!(misnamed.is_empty(), "{}", misnamed.join("\n\n"));
    assert!(tried >= 100, "only {tried} mutants");
    // Every pass's code is checked: some mutant of each stage is caught.
    for (n, c) in caught_at
        .iter()
        .enumerate()
        .take(ljbpf_build::Pass::ALL.len() + 1)
    {
        assert!(*c > 0, "no mutant of stage {n} caught");
    }
    // Many mutants are equivalent: generated programs compute locals nobody outputs, so a
    // flipped jump around such code or a changed operation on such a value changes nothing
    // observable (135 of 276 are caught with this seed: 86 of 144 changed operations, 49 of
    // 132 flipped jumps, most of the others being bounds checks and sign fixes after a modulo
    // that the verifier needs and no input reaches the other side of).
    assert!(
        caught * 3 >= tried,
        "only {caught} of {tried} mutants caught"
    );
}
