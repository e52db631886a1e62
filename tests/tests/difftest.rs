//! Differential test: LuaJIT vs the kernel.
//!
//! Every case is one Lua expression over the inputs
//!
//! | name | Lua type      | read in the probe as                           |
//! |------|---------------|------------------------------------------------|
//! | `a`  | number        | `ntoh(pkt.ip.src) - 0x80000000` (signed 32-bit) |
//! | `b`  | number        | `ntoh(pkt.ip.dst) - 0x80000000` (signed 32-bit) |
//! | `c`  | number        | `ntoh(pkt.ip.tcp.seq_num)` (unsigned 32-bit)    |
//! | `x`  | uint64 cdata  | `ntoh(pkt.ip6.dst_lo)` (a 64-bit field)         |
//! | `i`  | int64 cdata   | `a * 0x100000000LL + c`                         |
//!
//! The probe is a socket filter that stores the expression's value into an `array` map of
//! `uint64_t` and the test reads it back after `BPF_PROG_TEST_RUN`. The reference runs the same
//! expression in LuaJIT (mlua, vendored LuaJIT, the same one the compiler uses) with the same
//! inputs — numbers as Lua numbers, `x`/`i` as `ULL`/`LL` cdata literals — and the two 64-bit
//! patterns must be equal (a number result is taken as a signed 64-bit integer).
//!
//! Documented deviations (DESIGN.md "Semantics"), emulated by the reference:
//! - `/` on two plain numbers truncates toward zero in the probe; LuaJIT gives a fraction. Such
//!   cases spell the reference as `idiv(p, q)`, which truncates the quotient.
//! - Division or modulo by zero follow BPF: `x / 0 == 0`, `x % 0 == x` (LuaJIT would give a NaN
//!   for numbers and `INT64_MIN`/`UINT64_MAX` for cdata). Cases whose divisor may be zero spell
//!   the reference as `idiv(p, q)` / `imod(p, q)`, which return `p - p` (zero of p's type) and
//!   `p` when `q == 0` and otherwise the plain Lua operator.
//! - Numbers are exact only up to 2^53 in LuaJIT; a reference result that is a number beyond
//!   that is not compared (counted as skipped). The cases keep products small enough.

use ljbpf_runtime::aya::maps::Array;
use ljbpf_tests::{compile_str, kernel_ready};
use mlua::{Lua, Value};

/// (probe expression, reference expression when it differs)
type Case = (&'static str, Option<&'static str>);

const CASES: &[Case] = &[
    // Arithmetic on numbers.
    ("a + b", None),
    ("a - b", None),
    ("a * 3 - b", None),
    ("(a % 1000) * (b % 1000)", None),
    ("a % 7", None),
    ("a % -7", None),
    ("a % b", Some("imod(a, b)")),
    ("a / b", Some("idiv(a, b)")),
    ("a / 7", Some("idiv(a, 7)")),
    ("a / -7", Some("idiv(a, -7)")),
    ("-a", None),
    ("c * 65536 + a", None),
    ("a - c", None),
    ("c % 256 - 128", None),
    ("(a + b) - (a - b) * 2", None),
    // Comparisons, and/or as values, not.
    ("(a < b) and 1 or 0", None),
    ("(a <= b) and 1 or 0", None),
    ("(a == b) and 1 or 0", None),
    ("(a ~= c) and 1 or 0", None),
    ("(c > 2147483647) and 1 or 0", None),
    ("(a - b < 0) and 1 or 0", None),
    ("a > b and a or b", None),
    ("(a < 0 or b < 0) and a - b or a + b", None),
    ("not (a < b) and 7 or 9", None),
    ("a or 5", None),
    ("(a > 0 and b) or c", None),
    ("(c == 0 and 100) or (a > b and 200) or 300", None),
    // Bit operations on numbers: 32-bit, results sign-extended.
    ("bit.band(a, b)", None),
    ("bit.bor(a, c)", None),
    ("bit.bxor(b, c)", None),
    ("bit.bnot(a)", None),
    ("bit.lshift(a, 4)", None),
    ("bit.rshift(a, 3)", None),
    ("bit.arshift(a, 3)", None),
    ("bit.band(c, 0xffffffff)", None),
    ("bit.lshift(1, c % 40)", None),
    ("bit.rshift(c, c % 37)", None),
    ("a & b | c", None),
    ("a ~ c", None),
    ("~b", None),
    ("a << (c % 32)", None),
    ("b >> 28", None),
    ("a ~>> 5", None),
    ("(c & 0xff) + (a >> 24)", None),
    // uint64 cdata.
    ("x", None),
    ("x + 1", None),
    ("x * 3 - c", None),
    ("x / 7", None),
    ("x % 1000", None),
    ("x >> 7", None),
    ("x << 9", None),
    ("x ~>> 60", None),
    ("bit.band(x, 0xffff0000ffffULL)", None),
    ("bit.bxor(x, i)", None),
    ("bit.lshift(x, c % 70)", None),
    ("(x > 1) and 1 or 0", None),
    ("(a < x) and 1 or 0", None),
    ("x + a", None),
    ("x / (c % 5)", Some("idiv(x, c % 5)")),
    ("x % (c % 5)", Some("imod(x, c % 5)")),
    ("x - x - 1", None),
    ("(0xffffffffffffffffULL > x) and 1 or 0", None),
    // int64 cdata.
    ("i", None),
    ("i + x", None),
    ("i * 3", None),
    ("i * i", None),
    ("i / 1000", None),
    ("i % 1000", None),
    ("i % -1000", None),
    ("i >> 4", None),
    ("i ~>> 4", None),
    ("-i", None),
    ("bit.bnot(i)", None),
    ("(i < 0LL) and 1 or 0", None),
    ("(i < 0) and 1 or 0", None),
    ("(i > x) and 1 or 0", None),
    ("i / b", Some("idiv(i, b)")),
    ("i % b", Some("imod(i, b)")),
    ("a * 2LL", None),
    ("a / 2LL", None),
    ("(a - b) % 3LL", None),
    ("i > 0 and i or -i", None),
    ("i / -1", None),
    ("i % -1", None),
    // Mixed and variable-count operations.
    ("x >> (c % 64)", None),
    ("i ~>> (c % 64)", None),
    ("(a == x) and 1 or 0", None),
    ("(i == x) and 1 or 0", None),
    ("(a <= i) and 1 or 0", None),
    ("bit.band(a, 0xffffffffffULL)", None),
    ("(x - 1 < x) and 1 or 0", None),
    ("(a % b) + (a / 3)", Some("imod(a, b) + idiv(a, 3)")),
    ("-(a - b)", None),
    ("(not (a == 0)) and 1 or 0", None),
];

/// Input sets: (a, b, c, x). `i` is derived.
fn inputs() -> Vec<(i32, i32, u32, u64)> {
    let mut v = vec![
        (0, 0, 0, 0),
        (1, 1, 1, 1),
        (-1, 1, 0xffff_ffff, u64::MAX),
        (7, -2, 3, 2),
        (-7, 2, 4, 3),
        (-7, 3, 5, 1 << 63),
        (100, -100, 1000, 0x8000_0000),
        (i32::MIN, -1, 0x8000_0000, (1 << 63) + 5),
        (i32::MAX, i32::MIN, 0x7fff_ffff, u64::MAX - 1),
        (123_456, 654_321, 42, 0x0123_4567_89ab_cdef),
        (-123_456, 0, 31, 0xfedc_ba98_7654_3210),
        (65_535, 65_536, 32, 1 << 32),
        (-65_536, 3, 63, 1_000_000_007),
        (255, -255, 64, 9),
        (i32::MIN, 0, 0, 1 << 31),
    ];
    // A few deterministic pseudo-random ones.
    let mut s: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    for _ in 0..8 {
        let r1 = next();
        let r2 = next();
        let r3 = next();
        v.push((r1 as i32, (r1 >> 32) as i32, r2 as u32, r3));
    }
    v
}

/// The probe for one expression.
fn probe_source(expr: &str) -> String {
    format!(
        r#"local out = bpf.map('array', 1, 'uint32_t', 'uint64_t')
return {{
  out = out,
  f = bpf.socket(function (skb)
    local a = ntoh(pkt.ip.src) - 0x80000000
    local b = ntoh(pkt.ip.dst) - 0x80000000
    local c = ntoh(pkt.ip.tcp.seq_num)
    local x = ntoh(pkt.ip6.dst_lo)
    local i = a * 0x100000000LL + c
    local r = {expr}
    out[0] = r
    return 1
  end),
}}
"#
    )
}

/// The packet: 14 bytes the kernel strips in test_run, then Ethernet + IPv4 (ihl 5) + TCP,
/// with `x` where an IPv6 header's `dst_lo` would be.
fn packet(a: i32, b: i32, c: u32, x: u64) -> Vec<u8> {
    let mut p = vec![0u8; 14 + 64];
    let eth = 14;
    p[eth + 12] = 0x08; // type 0x0800
    let ip = eth + 14;
    p[ip] = 0x45;
    p[ip + 9] = 6;
    p[ip + 12..ip + 16].copy_from_slice(&((a as u32) ^ 0x8000_0000).to_be_bytes());
    p[ip + 16..ip + 20].copy_from_slice(&((b as u32) ^ 0x8000_0000).to_be_bytes());
    let tcp = ip + 20;
    p[tcp + 4..tcp + 8].copy_from_slice(&c.to_be_bytes());
    // ip6.dst_lo is at 32 from the start of the network header: after tcp.seq_num/ack_num.
    p[ip + 32..ip + 40].copy_from_slice(&x.to_be_bytes());
    p
}

const PRELUDE: &str = r#"
function idiv(p, q)
  if q == 0 then return p - p end
  if type(p) == 'number' and type(q) == 'number' then
    local r = p / q
    if r >= 0 then return math.floor(r) else return math.ceil(r) end
  end
  return p / q
end
function imod(p, q)
  if q == 0 then return p end
  return p % q
end
function repr(r)
  if type(r) == 'number' then
    if r ~= r or r ~= math.floor(r) then return 'fraction ' .. tostring(r) end
    if math.abs(r) > 2^53 then return 'inexact' end
    return string.format('%.0f', r)
  end
  return tostring(r)
end
"#;

/// What LuaJIT computes: `Ok(Some(bits))`, `Ok(None)` when the number is inexact.
fn reference(
    lua: &Lua,
    expr: &str,
    (a, b, c, x): (i32, i32, u32, u64),
) -> Result<Option<u64>, String> {
    let i = i64::from(a) * (1i64 << 32) + i64::from(c);
    let chunk = format!(
        "local a, b, c = {a}, {b}, {c}\nlocal x = {x}ULL\nlocal i = {i}LL\nreturn repr({expr})"
    );
    let v: Value = lua
        .load(&chunk)
        .eval()
        .map_err(|e| format!("LuaJIT: {e}"))?;
    let s = match v {
        Value::String(s) => s.to_str().map_err(|e| e.to_string())?.to_string(),
        other => return Err(format!("LuaJIT returned {other:?}")),
    };
    if s == "inexact" {
        return Ok(None);
    }
    let digits = s.trim_end_matches("ULL").trim_end_matches("LL");
    let n: i128 = digits
        .parse()
        .map_err(|_| format!("LuaJIT result {s:?} is not an integer"))?;
    Ok(Some(n as u64))
}

struct Outcome {
    compared: usize,
    skipped: usize,
    failures: Vec<String>,
}

/// Runs `cases` in LuaJIT and in the kernel over every input set.
fn run(cases: &[Case]) -> Outcome {
    // SAFETY: an unsafe state only to get the ffi library (for LL/ULL cdata); it runs our own
    // expressions.
    let lua = unsafe { Lua::unsafe_new() };
    lua.load(PRELUDE).exec().expect("prelude");
    let inputs = inputs();
    let mut out = Outcome {
        compared: 0,
        skipped: 0,
        failures: Vec::new(),
    };
    for (n, &(expr, refexpr)) in cases.iter().enumerate() {
        let source = probe_source(expr);
        let compiled = match compile_str(&format!("diff{n}.lua"), &source) {
            Ok(p) => p,
            Err(d) => {
                out.failures
                    .push(format!("`{expr}`: does not compile:\n{d}"));
                continue;
            }
        };
        let mut probe = match ljbpf_runtime::Probe::load(ljbpf_cli::spec(&compiled)) {
            Ok(p) => p,
            Err(e) => {
                out.failures.push(format!(
                    "`{expr}`: does not load: {e}\n{}",
                    compiled.listing
                ));
                continue;
            }
        };
        let mut bad = Vec::new();
        for &input in &inputs {
            let (a, b, c, x) = input;
            let want = match reference(&lua, refexpr.unwrap_or(expr), input) {
                Ok(Some(w)) => w,
                Ok(None) => {
                    out.skipped += 1;
                    continue;
                }
                Err(e) => {
                    bad.push(format!("  a={a} b={b} c={c} x={x}: reference: {e}"));
                    continue;
                }
            };
            const SENTINEL: u64 = 0x5a5a_1234_dead_beef;
            {
                let mut arr: Array<_, u64> =
                    Array::try_from(probe.map_mut("out").unwrap()).unwrap();
                arr.set(0, SENTINEL, 0).unwrap();
            }
            let res = probe
                .test_run("f", &packet(a, b, c, x), 1)
                .expect("test_run");
            let arr: Array<_, u64> = Array::try_from(probe.map_mut("out").unwrap()).unwrap();
            let got = arr.get(&0, 0).unwrap();
            out.compared += 1;
            if res.retval != 1 || got != want {
                bad.push(format!(
                    "  a={a} b={b} c={c} x={x:#x}: LuaJIT {want} ({:#x} / {}), kernel {got} ({got:#x} / {}), retval {}",
                    want, want as i64, got as i64, res.retval
                ));
            }
        }
        if !bad.is_empty() {
            out.failures.push(format!(
                "`{expr}` (reference `{}`):\n{}\nlisting:\n{}",
                refexpr.unwrap_or(expr),
                bad.join("\n"),
                compiled.listing
            ));
        }
    }
    out
}

#[test]
fn luajit_and_kernel_agree() {
    if !kernel_ready("luajit_and_kernel_agree") {
        return;
    }
    let start = std::time::Instant::now();
    let cases: Vec<Case> = CASES
        .iter()
        .copied()
        .filter(|(e, _)| !KNOWN_BUGS.iter().any(|(k, _)| k == e))
        .collect();
    assert!(cases.len() >= 40, "only {} cases", cases.len());
    let out = run(&cases);
    println!(
        "difftest: {} expressions x {} inputs: {} compared, {} skipped (inexact in LuaJIT), {} failing expressions, {:?}",
        cases.len(),
        inputs().len(),
        out.compared,
        out.skipped,
        out.failures.len(),
        start.elapsed()
    );
    assert!(
        out.failures.is_empty(),
        "{} expressions differ:\n{}",
        out.failures.len(),
        out.failures.join("\n\n")
    );
}

/// Expressions that currently differ because of compiler defects (expression, what is wrong).
/// They are kept out of `luajit_and_kernel_agree` and run here, which fails until they are
/// fixed.
const KNOWN_BUGS: &[(&str, &str)] = &[
    (
        "i % 1000",
        "int64 `%` is floored; LuaJIT's int64 cdata `%` is C's truncated remainder (-1LL % 1000 == -1LL)",
    ),
    ("i % -1000", "int64 `%` floored instead of truncated"),
    ("i % b", "int64 `%` floored instead of truncated"),
    ("(a - b) % 3LL", "int64 `%` floored instead of truncated"),
];

#[test]
fn compiler_bugs_found_by_difftest() {
    if !kernel_ready("compiler_bugs_found_by_difftest") {
        return;
    }
    let cases: Vec<Case> = CASES
        .iter()
        .copied()
        .filter(|(e, _)| KNOWN_BUGS.iter().any(|(k, _)| k == e))
        .collect();
    let out = run(&cases);
    println!(
        "known compiler bugs: {} expressions, {} compared",
        cases.len(),
        out.compared
    );
    assert!(
        out.failures.is_empty(),
        "COMPILER BUG(S):\n{}\n\n{}",
        KNOWN_BUGS
            .iter()
            .map(|(e, why)| format!("  `{e}`: {why}"))
            .collect::<Vec<_>>()
            .join("\n"),
        out.failures.join("\n\n")
    );
}
