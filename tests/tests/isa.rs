//! ISA levels: the default output loads on every supported kernel (no v4-only instruction in
//! any object of the corpus or the examples), every level's output passes the live verifier,
//! and the legalised signed division, modulo and sign extension compute what v4's do.

use std::path::PathBuf;

use ljbpf_build::{compile_source, Isa, Options};
use ljbpf_tests::{kernel_ready, root};

fn probes() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in [root().join("corpus"), root().join("../examples/probes")] {
        let rd = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        files.extend(
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "lua")),
        );
    }
    files.sort();
    assert!(files.len() >= 20, "found {} probe files", files.len());
    files
}

fn compile(path: &PathBuf, isa: Isa) -> ljbpf_build::CompiledProbe {
    let source = std::fs::read_to_string(path).unwrap();
    let opts = Options {
        isa,
        ..Options::default()
    };
    compile_source(path, &source, &opts).unwrap_or_else(|d| panic!("{}: {d}", path.display()))
}

/// Why a raw instruction slot needs ISA v4, read from its encoding alone
/// (Documentation/bpf/standardization/instruction-set.rst): signed DIV/MOD (offset 1), MOVSX
/// (MOV with a non-zero offset), sign-extending loads (mode MEMSX = 0x80), BSWAP (END in the
/// ALU64 class), and `gotol` (JA in the JMP32 class).
fn v4_only(slot: &[u8]) -> Option<&'static str> {
    let (code, off) = (slot[0], i16::from_le_bytes([slot[2], slot[3]]));
    let class = code & 0x07;
    let op = code & 0xf0;
    match class {
        0x04 | 0x07 if (op == 0x30 || op == 0x90) && off != 0 => Some("signed div/mod"),
        0x04 | 0x07 if op == 0xb0 && off != 0 => Some("sign-extending move"),
        0x07 if op == 0xd0 => Some("unconditional byte swap"),
        0x01 if code & 0xe0 == 0x80 => Some("sign-extending load"),
        0x06 if op == 0x00 => Some("32-bit goto"),
        _ => None,
    }
}

fn v4_slots(probe: &ljbpf_build::CompiledProbe) -> Vec<String> {
    let mut found = Vec::new();
    for p in &probe.programs {
        let mut slots = p.code.chunks(8).enumerate();
        while let Some((i, slot)) = slots.next() {
            if slot[0] == 0x18 {
                slots.next(); // the second half of LD_IMM64
                continue;
            }
            if let Some(why) = v4_only(slot) {
                found.push(format!("{}/{} slot {i}: {why}", probe.name, p.name));
            }
        }
    }
    found
}

#[test]
fn default_output_has_no_v4_instruction() {
    let mut found = Vec::new();
    let mut v4_total = 0;
    for f in probes() {
        found.extend(v4_slots(&compile(&f, Isa::default())));
        v4_total += v4_slots(&compile(&f, Isa::V4)).len();
    }
    assert!(
        found.is_empty(),
        "v4 instructions at the default ISA:\n{}",
        found.join("\n")
    );
    // The scan can fail: the same probes at v4 do use v4 instructions.
    assert!(v4_total > 5, "only {v4_total} v4 instructions at --isa v4");
}

#[test]
fn every_level_passes_the_verifier() {
    if !kernel_ready("every_level_passes_the_verifier") {
        return;
    }
    for isa in Isa::ALL {
        for f in probes() {
            let name = f.file_name().unwrap().to_string_lossy().to_string();
            // kprobes cannot load without kprobe support (the host kernel has none).
            if name.contains("kprobe") || name.contains("kcount") {
                continue;
            }
            let probe = compile(&f, *isa);
            let rows = ljbpf_runtime::check(ljbpf_cli::spec(&probe))
                .unwrap_or_else(|e| panic!("{isa} {name}: {e}"));
            for row in rows {
                // fentry/fexit where the kernel cannot attach BPF trampolines (this host's
                // 6.18): refused before the verifier runs; the kernel matrix verifies them.
                if let Err(ljbpf_runtime::Error::NoTrampoline { .. }) = &row.verdict {
                    continue;
                }
                if let Err(e) = &row.verdict {
                    panic!("{isa} {name}/{}: {e}\n{}", row.name, probe.listing);
                }
            }
        }
    }
}

/// Signed `/`, `%` and sign extension at every level against values computed here, on the
/// edges where legalisation could go wrong (zero, -1, the most negative values).
#[test]
fn legalised_signed_arithmetic_matches_v4() {
    if !kernel_ready("legalised_signed_arithmetic_matches_v4") {
        return;
    }
    // r = a / b and a % b on numbers (signed 64-bit), and on int64 cdata; a, b from the packet
    // as signed 32-bit numbers, c widened from a signed 32-bit int.
    let source = r#"
local ffi = require('ffi')
local out = bpf.map('array', 8, ffi.typeof('uint32_t'), ffi.typeof('int64_t'))
return {
  out = out,
  f = bpf.socket(function (skb)
    local a = ntoh(pkt.ip.src) - 0x80000000
    local b = ntoh(pkt.ip.dst) - 0x80000000
    local i = a * 0x100000000LL
    out[0] = a / b
    out[1] = a % b
    out[2] = i / b
    out[3] = i % b
    out[4] = a / 7
    out[5] = a % -7
    out[6] = i / -1
    return 1
  end),
}
"#;
    let cases: &[(i64, i64)] = &[
        (7, 2),
        (-7, 2),
        (7, -2),
        (-7, -2),
        (5, 0),
        (-5, 0),
        (0, -3),
        (-2147483648, -1),
        (-2147483648, 2147483647),
        (2147483647, -2147483648),
    ];
    for isa in Isa::ALL {
        let opts = Options {
            isa: *isa,
            ..Options::default()
        };
        let probe = compile_source(std::path::Path::new("isa_arith.lua"), source, &opts)
            .unwrap_or_else(|d| panic!("{isa}: {d}"));
        let spec = ljbpf_cli::spec(&probe);
        let mut loaded = ljbpf_runtime::Probe::load(spec).unwrap();
        for &(a, b) in cases {
            // Source and destination address at 14 (stripped) + 14 (Ethernet) + 12 and + 16.
            let mut packet = ljbpf_tests::ipv4_frame(64, 6, &[0; 20]);
            packet[40..44].copy_from_slice(&((a + 0x8000_0000) as u32).to_be_bytes());
            packet[44..48].copy_from_slice(&((b + 0x8000_0000) as u32).to_be_bytes());
            let run = loaded.test_run("f", &packet, 1).unwrap();
            assert_eq!(run.retval, 1, "{isa} a={a} b={b}");
            let map: ljbpf_runtime::aya::maps::Array<_, i64> =
                ljbpf_runtime::aya::maps::Array::try_from(loaded.map_mut("out").unwrap()).unwrap();
            let got: Vec<i64> = (0..7).map(|k| map.get(&k, 0).unwrap()).collect();
            let i = a.wrapping_mul(1 << 32);
            let div = |x: i64, y: i64| if y == 0 { 0 } else { x.wrapping_div(y) };
            let rem = |x: i64, y: i64| if y == 0 { x } else { x.wrapping_rem(y) };
            // Lua's floored modulo on numbers: the result has the divisor's sign.
            let lmod = |x: i64, y: i64| {
                let r = rem(x, y);
                if y != 0 && r != 0 && (r ^ y) < 0 {
                    r + y
                } else {
                    r
                }
            };
            let want = vec![
                div(a, b),
                lmod(a, b),
                div(i, b),
                rem(i, b),
                div(a, 7),
                lmod(a, -7),
                div(i, -1),
            ];
            assert_eq!(got, want, "{isa} a={a} b={b}");
        }
    }
}
