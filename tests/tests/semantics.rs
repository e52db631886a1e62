//! Kernel semantic tests: compiled probes do what their Lua says, in the live kernel.
//!
//! Socket filters here: dissector fields, edge cases of the number semantics, the documented
//! builtins; tracepoint probes are in `semantics_tracepoints.rs`, maps in `semantics_maps.rs`.
//!
//! Socket filters run under `BPF_PROG_TEST_RUN`, which strips the first 14 bytes of the data
//! (the kernel's `eth_type_trans`), so every test packet is `[14 filler bytes][Ethernet
//! header][IP ...]` — the dissector's offset 0 is the Ethernet header, as on an `AF_PACKET`
//! socket. Results come back as the return value or through maps read with aya's typed maps.

use ljbpf_tests::{array_u64, compile_ok, frame, kernel_ready, load, tcp, test_run, udp, Ip4};

/// Packet carrying two 32-bit inputs as `ip.src` / `ip.dst` (offset by 2^31 so that the probe's
/// `ntoh(pkt.ip.src) - 0x80000000` is the signed value), `ttl` and `tos`, and a 64-bit value
/// where `ip6.dst_lo` would be.
fn inputs_packet(a: i32, b: i32, ttl: u8, tos: u8, wide: u64) -> Vec<u8> {
    let mut ip = Ip4::new(6);
    ip.src = (a as u32) ^ 0x8000_0000;
    ip.dst = (b as u32) ^ 0x8000_0000;
    ip.ttl = ttl;
    ip.tos = tos;
    let mut l3 = ip.with(&tcp(1, 2, 3, 0));
    l3.resize(40, 0);
    l3[32..40].copy_from_slice(&wide.to_be_bytes());
    frame(0x0800, &l3)
}

// ---------------------------------------------------------------------------------------------
// Socket filters: dissector fields.

const DISSECT: &str = r#"
local out = bpf.map('array', 16, 'uint32_t', 'uint64_t')
return {
  out = out,
  eth_type = bpf.socket(function (skb) return ntoh(pkt.type) end),
  eth_type_raw = bpf.socket(function (skb) return eth.type end),
  proto_ttl = bpf.socket(function (skb) return pkt.ip.proto * 256 + pkt.ip.ttl end),
  ip_src = bpf.socket(function (skb) return ntoh(pkt.ip.src) end),
  ip_fields = bpf.socket(function (skb)
    local ip = pkt.ip
    out[0] = ip.ver
    out[1] = ip.hlen
    out[2] = ip.tos
    out[3] = ntoh(ip.tlen)
    out[4] = ntoh(ip.identification)
    out[5] = ip.df
    out[6] = ip.mf
    out[7] = ip.foffset
    out[8] = ntoh(ip.dst)
    out[9] = ip.tlen
    return 0
  end),
  udp_dport = bpf.socket(function (skb) return ntoh(pkt.ip.udp.dst_port) end),
  udp_both = bpf.socket(function (skb)
    local u = pkt.ip.udp
    return ntoh(u.src_port) * 65536 + ntoh(u.dst_port)
  end),
  udp_data = bpf.socket(function (skb)
    local d = pkt.ip.udp.data
    return d[0] * 256 + d[1]
  end),
  tcp_flags = bpf.socket(function (skb)
    local t = pkt.ip.tcp
    return t.flag_fin + t.flag_syn * 2 + t.flag_rst * 4 + t.flag_psh * 8 + t.flag_ack * 16
      + t.flag_urg * 32 + t.flag_ece * 64 + t.flag_cwr * 128 + t.offset * 256
  end),
  tcp_seq = bpf.socket(function (skb) return ntoh(pkt.ip.tcp.seq_num) end),
  classify = bpf.socket(function (skb)
    if ntoh(eth.type) == 0x86dd then return 6000 + eth.ip6.next_header end
    if ntoh(eth.type) ~= 0x0800 then return 1 end
    local ip = eth.ip
    if ip.proto == 6 and ip.tcp.flag_syn == 1 and ip.tcp.flag_ack == 0 then return 2 end
    if ip.proto == 17 then return ntoh(ip.udp.dst_port) end
    return 3
  end),
  bytes = bpf.socket(function (skb) return pkt[12] * 256 + pkt[13] end),
  skb_len = bpf.socket(function (skb) return skb.len end),
}
"#;

#[test]
fn socket_filter_dissector_fields() {
    if !kernel_ready("socket_filter_dissector_fields") {
        return;
    }
    let probe = compile_ok("dissect.lua", DISSECT);
    let mut p = load(&probe);

    let mut ip = Ip4::new(17);
    ip.ttl = 77;
    ip.tos = 0x2e;
    ip.src = 0xc0a8_0102;
    ip.dst = 0xfedc_ba98;
    ip.flags_frag = 0x4000 | 0x2000 | 0x0123; // DF, MF, offset 0x123
    ip.ident = 0xbeef;
    let payload = udp(5353, 53, &[0xab, 0xcd, 0xef]);
    let pkt4 = frame(0x0800, &ip.with(&payload));

    assert_eq!(test_run(&p, "eth_type", &pkt4), 0x0800);
    // The field is read in network byte order: on little-endian the raw value is swapped.
    assert_eq!(
        test_run(&p, "eth_type_raw", &pkt4),
        u32::from(u16::from_le_bytes([0x08, 0x00]))
    );
    assert_eq!(test_run(&p, "proto_ttl", &pkt4), 17 * 256 + 77);
    assert_eq!(test_run(&p, "ip_src", &pkt4), 0xc0a8_0102);
    assert_eq!(test_run(&p, "udp_dport", &pkt4), 53);
    assert_eq!(test_run(&p, "udp_both", &pkt4), (5353 << 16) | 53);
    assert_eq!(test_run(&p, "udp_data", &pkt4), 0xabcd);
    assert_eq!(test_run(&p, "classify", &pkt4), 53);
    assert_eq!(test_run(&p, "bytes", &pkt4), 0x0800);
    assert_eq!(test_run(&p, "skb_len", &pkt4), (pkt4.len() - 14) as u32);

    assert_eq!(test_run(&p, "ip_fields", &pkt4), 0);
    let out = array_u64(&mut p, "out");
    let tlen = (20 + payload.len()) as u64;
    let want = [
        (0, 4, "ver"),
        (1, 5, "hlen"),
        (2, 0x2e, "tos"),
        (3, tlen, "ntoh(tlen)"),
        (4, 0xbeef, "ntoh(identification)"),
        (5, 1, "df"),
        (6, 1, "mf"),
        (7, 0x123, "foffset"),
        (8, 0xfedc_ba98, "ntoh(dst)"),
        (9, u64::from((tlen as u16).swap_bytes()), "raw tlen"),
    ];
    for (i, v, what) in want {
        assert_eq!(out.get(&i, 0).unwrap(), v, "ip.{what}");
    }

    // A variable IP header length: ihl = 6 with 4 option bytes; udp/data follow it.
    let mut ip6w = Ip4::new(17);
    ip6w.options = vec![1, 1, 1, 0];
    let pkt_opt = frame(0x0800, &ip6w.with(&udp(1000, 4242, &[0x12, 0x34])));
    assert_eq!(test_run(&p, "udp_dport", &pkt_opt), 4242);
    assert_eq!(test_run(&p, "udp_both", &pkt_opt), (1000 << 16) | 4242);
    assert_eq!(test_run(&p, "udp_data", &pkt_opt), 0x1234);
    assert_eq!(test_run(&p, "classify", &pkt_opt), 4242);
    // ihl = 15: 40 option bytes.
    let mut ip15 = Ip4::new(17);
    ip15.options = vec![1; 40];
    let pkt15 = frame(0x0800, &ip15.with(&udp(9, 65535, &[9, 8])));
    assert_eq!(test_run(&p, "udp_dport", &pkt15), 65535);
    assert_eq!(test_run(&p, "udp_data", &pkt15), 0x0908);

    // TCP flags, each alone and combined, and the data offset.
    for flags in [0u8, 1, 2, 4, 8, 16, 32, 64, 128, 0x12, 0xff] {
        let pkt = frame(0x0800, &Ip4::new(6).with(&tcp(1, 2, 0xdead_beef, flags)));
        assert_eq!(
            test_run(&p, "tcp_flags", &pkt),
            u32::from(flags) + 5 * 256,
            "tcp flags {flags:#x}"
        );
        let class = if flags & 0x12 == 0x02 { 2 } else { 3 };
        assert_eq!(
            test_run(&p, "classify", &pkt),
            class,
            "classify flags {flags:#x}"
        );
    }
    let mut ipt = Ip4::new(6);
    ipt.options = vec![0; 8];
    let pkt = frame(0x0800, &ipt.with(&tcp(1, 2, 0xdead_beef, 0x02)));
    assert_eq!(test_run(&p, "tcp_seq", &pkt), 0xdead_beef);
    assert_eq!(test_run(&p, "tcp_flags", &pkt), 2 + 5 * 256);

    // IPv6 and another ethertype.
    let mut v6 = vec![0x60, 0, 0, 0, 0, 8, 58, 64];
    v6.extend_from_slice(&[0u8; 32]);
    assert_eq!(test_run(&p, "classify", &frame(0x86dd, &v6)), 6058);
    assert_eq!(test_run(&p, "classify", &frame(0x0806, &[0u8; 28])), 1);
    assert_eq!(test_run(&p, "eth_type", &frame(0x0806, &[0u8; 28])), 0x0806);
}

// ---------------------------------------------------------------------------------------------
// Semantics edge cases.

const EDGES: &str = r#"
local out = bpf.map('array', 40, 'uint32_t', 'uint64_t')
return {
  out = out,
  edges = bpf.socket(function (skb)
    local a = ntoh(pkt.ip.src) - 0x80000000
    local b = ntoh(pkt.ip.dst) - 0x80000000
    local ttl, tos = pkt.ip.ttl, pkt.ip.tos
    local w = ntoh(pkt.ip6.dst_lo)
    local zero = a - a
    out[0] = a % b
    out[1] = a / b
    out[2] = a / zero
    out[3] = a % zero
    out[4] = ttl - tos
    out[5] = (ttl - tos < 0) and 1 or 0
    out[6] = (0xffffffffffffffffULL > w) and 1 or 0
    out[7] = 0x7fffffffffffffffLL + w
    out[8] = 0ULL - w
    out[9] = zero or 5
    out[10] = (a > b and a) or b
    out[11] = (a < b and nil) or 77
    out[12] = (not (a == b)) and 1 or 0
    local level
    if a > 100 then
      level = 3
    elseif a > 0 then
      if b > 0 then level = 21 else level = 22 end
    elseif a == 0 then
      level = 1
    else
      level = 0
    end
    out[13] = level
    out[14] = bit.band(a, b)
    out[15] = bit.bor(a, b)
    out[16] = bit.bxor(a, 0xff)
    out[17] = bit.bnot(a)
    out[18] = bit.lshift(a, 28)
    out[19] = bit.rshift(a, 1)
    out[20] = bit.arshift(a, 1)
    out[21] = a & b
    out[22] = a | b
    out[23] = a ~ b
    out[24] = ~a
    out[25] = a << 28
    out[26] = a >> 1
    out[27] = a ~>> 1
    out[28] = w & 0xff00ff00ff00ff00ULL
    out[29] = w | 1ULL
    out[30] = ~w
    out[31] = w << 4
    out[32] = w >> 60
    out[33] = bit.rshift(w, 4)
    out[34] = (w - 1 > w) and 1 or 0
    out[35] = a * 0x100000000LL
    out[36] = (a * 0x100000000LL < 0) and 1 or 0
    out[37] = 0x7fffffffffffffffLL * 2
    return 0
  end),
}
"#;

/// 32-bit bit-op result as LuaJIT gives it: the low 32 bits, sign-extended.
fn tobit(v: i64) -> u64 {
    i64::from(v as i32) as u64
}

fn edges_expected(a: i32, b: i32, ttl: u8, tos: u8, w: u64) -> Vec<(usize, u64, &'static str)> {
    let (a64, b64) = (i64::from(a), i64::from(b));
    let fmod = |x: i64, y: i64| {
        if y == 0 {
            x
        } else {
            x.rem_euclid(y) + if y < 0 && x.rem_euclid(y) != 0 { y } else { 0 }
        }
    };
    let tdiv = |x: i64, y: i64| if y == 0 { 0 } else { x / y };
    let s = |v: i64| v as u64;
    let level = if a > 100 {
        3
    } else if a > 0 {
        if b > 0 {
            21
        } else {
            22
        }
    } else if a == 0 {
        1
    } else {
        0
    };
    vec![
        (0, s(fmod(a64, b64)), "a % b (floored)"),
        (1, s(tdiv(a64, b64)), "a / b (truncated)"),
        (2, 0, "a / 0"),
        (3, s(a64), "a % 0"),
        (4, s(i64::from(ttl) - i64::from(tos)), "ttl - tos"),
        (5, u64::from(ttl < tos), "ttl - tos < 0"),
        (6, u64::from(w != u64::MAX), "0xffffffffffffffffULL > w"),
        (7, 0x7fff_ffff_ffff_ffffu64.wrapping_add(w), "int64 max + w"),
        (8, 0u64.wrapping_sub(w), "0ULL - w"),
        (9, 0, "zero or 5"),
        (10, s(a64.max(b64)), "(a > b and a) or b"),
        (11, 77, "(a < b and nil) or 77"),
        (12, u64::from(a != b), "not (a == b)"),
        (13, level, "nested if"),
        (14, tobit(a64 & b64), "bit.band"),
        (15, tobit(a64 | b64), "bit.bor"),
        (16, tobit(a64 ^ 0xff), "bit.bxor"),
        (17, tobit(!a64), "bit.bnot"),
        (18, tobit(i64::from((a as u32) << 28)), "bit.lshift"),
        (19, tobit(i64::from((a as u32) >> 1)), "bit.rshift"),
        (20, tobit(i64::from(a >> 1)), "bit.arshift"),
        (21, tobit(a64 & b64), "&"),
        (22, tobit(a64 | b64), "|"),
        (23, tobit(a64 ^ b64), "~ (xor)"),
        (24, tobit(!a64), "~a"),
        (25, tobit(i64::from((a as u32) << 28)), "<<"),
        (26, tobit(i64::from((a as u32) >> 1)), ">>"),
        (27, tobit(i64::from(a >> 1)), "~>>"),
        (28, w & 0xff00_ff00_ff00_ff00, "uint64 &"),
        (29, w | 1, "uint64 |"),
        (30, !w, "uint64 ~"),
        (31, w << 4, "uint64 <<"),
        (32, w >> 60, "uint64 >>"),
        (33, w >> 4, "bit.rshift uint64"),
        (34, u64::from(w == 0), "w - 1 > w (wraps at 0)"),
        (35, s(a64 << 32), "a * 2^32 LL"),
        (36, u64::from(a < 0), "int64 < 0"),
        (37, s(i64::MAX.wrapping_mul(2)), "int64 max * 2 wraps"),
    ]
}

#[test]
fn semantics_edge_cases() {
    if !kernel_ready("semantics_edge_cases") {
        return;
    }
    let probe = compile_ok("edges.lua", EDGES);
    let mut p = load(&probe);
    let inputs: [(i32, i32, u8, u8, u64); 8] = [
        (-7, 3, 10, 20, 1),
        (-7, 2, 20, 10, 0),
        (7, -3, 0, 255, u64::MAX),
        (7, 0, 255, 0, 1 << 63),
        (0, 0, 1, 1, 0x0123_4567_89ab_cdef),
        (i32::MIN, -1, 64, 0, 2),
        (i32::MAX, i32::MIN, 128, 129, 0xffff_ffff),
        (150, 5, 3, 4, 0x8000_0000_0000_0001),
    ];
    let mut failures = Vec::new();
    for (a, b, ttl, tos, w) in inputs {
        assert_eq!(test_run(&p, "edges", &inputs_packet(a, b, ttl, tos, w)), 0);
        let out = array_u64(&mut p, "out");
        for (i, want, what) in edges_expected(a, b, ttl, tos, w) {
            let got = out.get(&(i as u32), 0).unwrap();
            if got != want {
                failures.push(format!(
                    "a={a} b={b} ttl={ttl} tos={tos} w={w:#x}: out[{i}] {what}: want {want} ({}), got {got} ({})",
                    want as i64, got as i64
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{}\nlisting:\n{}",
        failures.join("\n"),
        probe.listing
    );
}

#[test]
fn documented_examples_of_the_semantics() {
    if !kernel_ready("documented_examples_of_the_semantics") {
        return;
    }
    // The literal examples of DESIGN.md, as return values.
    let probe = compile_ok(
        "examples.lua",
        r#"
return {
  floored = bpf.socket(function (skb) local m = pkt.ip.ttl - 10 return m % 3 end),
  trunc = bpf.socket(function (skb) local m = pkt.ip.ttl - 10 return m / 2 + 100 end),
  divzero = bpf.socket(function (skb) local z = pkt.ip.tos return pkt.ip.ttl / z + 1000 end),
  modzero = bpf.socket(function (skb) local z = pkt.ip.tos return pkt.ip.ttl % z end),
  orfive = bpf.socket(function (skb) local x = pkt.ip.tos return x or 5 end),
  ullcmp = bpf.socket(function (skb)
    local one = pkt.ip.ttl + 0ULL
    if 0xffffffffffffffffULL > one then return 1 end
    return 0
  end),
}
"#,
    );
    let p = load(&probe);
    let pk = |ttl: u8, tos: u8| inputs_packet(0, 0, ttl, tos, 0);
    assert_eq!(test_run(&p, "floored", &pk(3, 0)), 2, "-7 % 3 == 2");
    assert_eq!(test_run(&p, "trunc", &pk(3, 0)), 97, "-7 / 2 == -3");
    assert_eq!(test_run(&p, "divzero", &pk(9, 0)), 1000, "9 / 0 == 0");
    assert_eq!(test_run(&p, "modzero", &pk(9, 0)), 9, "9 % 0 == 9");
    assert_eq!(test_run(&p, "orfive", &pk(9, 0)), 0, "0 or 5 == 0");
    assert_eq!(test_run(&p, "orfive", &pk(9, 4)), 4);
    assert_eq!(test_run(&p, "ullcmp", &pk(1, 0)), 1);
}

/// `math.log2` is computed without branches; every bit position, its neighbours, 0, and values
/// read as unsigned (negative numbers and int64, uint64 from 2^63) must give
/// docs/language.md's answer: the largest `p` with `2^p <= x`, 0 for 0.
#[test]
fn log2_of_every_bit_position_and_the_edges() {
    if !kernel_ready("log2_of_every_bit_position_and_the_edges") {
        return;
    }
    let probe = compile_ok(
        "log2.lua",
        r#"
return {
  u64 = bpf.socket(function (skb) return math.log2(ntoh(pkt.ip6.dst_lo)) end),
  num = bpf.socket(function (skb) return math.log2(ntoh(pkt.ip.src) - 0x80000000) end),
  i64 = bpf.socket(function (skb) return math.log2((ntoh(pkt.ip.src) - 0x80000000) * 1LL) end),
}
"#,
    );
    let p = load(&probe);
    let log2 = |w: u64| if w == 0 { 0 } else { 63 - w.leading_zeros() };
    let mut wides = vec![0, u64::MAX, 0x8000_0000_0000_0001, 0x7fff_ffff_ffff_ffff];
    for k in 0..64 {
        let b = 1u64 << k;
        wides.extend([b, b - 1, b + 1, b | (b >> 1)]);
    }
    let mut failures = Vec::new();
    for w in wides {
        let got = test_run(&p, "u64", &inputs_packet(0, 0, 0, 0, w));
        if got != log2(w) {
            failures.push(format!("u64 {w:#x}: want {}, got {got}", log2(w)));
        }
    }
    for a in [
        0,
        1,
        2,
        3,
        -1,
        -2,
        i32::MIN,
        i32::MAX,
        1 << 30,
        (1 << 16) - 1,
        1 << 16,
    ] {
        let want = log2(i64::from(a) as u64);
        for f in ["num", "i64"] {
            let got = test_run(&p, f, &inputs_packet(a, 0, 0, 0, 0));
            if got != want {
                failures.push(format!("{f} {a}: want {want}, got {got}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{}\nlisting:\n{}",
        failures.join("\n"),
        probe.listing
    );
}

// ---------------------------------------------------------------------------------------------

// Builtins of the probe-language contract (reference/probe-language.md): packet slices and
// dissector arithmetic, run-time byte indexes, string compares, integer logarithms,
// load_bytes, ffi.cast. Each is a minimal probe body with its packet and expected value.

#[test]
fn documented_builtins() {
    if !kernel_ready("documented_builtins") {
        return;
    }
    let mut ip = Ip4::new(17);
    ip.ttl = 64;
    let pkt = frame(0x0800, &ip.with(&udp(1, 80, b"GET /")));
    let cases: &[(&str, u32)] = &[
        ("return ntoh(pkt(12, 14))", 0x0800),
        ("local d = pkt.ip + 9 return d[0]", 17),
        ("return pkt.ip.udp.data(0, 4) == 'GET ' and 1 or 0", 1),
        ("local k = pkt.ip.hlen return pkt[k + 9]", 0x45),
        ("return math.log2(pkt.ip.ttl)", 6),
        ("return math.log10(pkt.ip.ttl)", 1),
        (
            "local v = ffi.new('uint8_t[2]') load_bytes(12, v) return v[0] * 256 + v[1]",
            0x0800,
        ),
        ("return ffi.cast('uint8_t', pkt.ip.ttl + 255)", 63),
    ];
    let mut failures = Vec::new();
    for (n, &(body, want)) in cases.iter().enumerate() {
        let source = format!("return {{ f = bpf.socket(function (skb) {body} end) }}\n");
        let compiled = match ljbpf_tests::compile_str(&format!("gap{n}.lua"), &source) {
            Ok(c) => c,
            Err(d) => {
                failures.push(format!("`{body}`: does not compile: {d}"));
                continue;
            }
        };
        let p = match ljbpf_runtime::Probe::load(ljbpf_cli::spec(&compiled)) {
            Ok(p) => p,
            Err(e) => {
                failures.push(format!("`{body}`: does not load: {e}"));
                continue;
            }
        };
        let got = test_run(&p, "f", &pkt);
        if got != want {
            failures.push(format!(
                "`{body}`: want {want:#x}, got {got:#x}\n{}",
                compiled.listing
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "builtins that fail ({} of {}):\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// String constants are Lua byte strings end to end: bytes that are not UTF-8 (here in the
/// constant, written as escapes and as raw bytes, and in a comment) are compared as themselves,
/// not as U+FFFD.
#[test]
fn byte_strings_compare_their_bytes() {
    if !kernel_ready("byte_strings_compare_their_bytes") {
        return;
    }
    let mut ip = Ip4::new(17);
    ip.ttl = 64;
    let pkt = frame(0x0800, &ip.with(&udp(1, 80, b"\xff\xfeAB")));
    let mut source = b"-- a comment that is not UTF-8: \xff\xfe\xe9\n".to_vec();
    source.extend_from_slice(
        b"return {\n  esc = bpf.socket(function (skb) return pkt.ip.udp.data(0, 2) == '\\255\\254' and 1 or 0 end),\n",
    );
    source.extend_from_slice(
        b"  raw = bpf.socket(function (skb) return pkt.ip.udp.data(0, 3) == '\xff\xfeA' and 1 or 0 end),\n",
    );
    // What a lossy conversion would have made of the bytes: must not match.
    source.extend_from_slice(
        b"  lossy = bpf.socket(function (skb) return pkt.ip.udp.data(0, 3) == '\\239\\191\\189' and 1 or 0 end),\n}\n",
    );
    let compiled = ljbpf_tests::compile_str("bytes.lua", &source).unwrap_or_else(|d| panic!("{d}"));
    let p = ljbpf_tests::load(&compiled);
    assert_eq!(test_run(&p, "esc", &pkt), 1, "{}", compiled.listing);
    assert_eq!(test_run(&p, "raw", &pkt), 1, "{}", compiled.listing);
    assert_eq!(test_run(&p, "lossy", &pkt), 0, "{}", compiled.listing);
}

/// Every byte value, 0 to 255, in string constants: a packet whose UDP payload holds the 256
/// bytes in order matches eight 32-byte constants written as escapes, and a payload with one
/// byte changed matches none of its chunk. `print` writes a format holding every byte the
/// kernel prints (printable ASCII and whitespace; `%` and the newline have their own meaning)
/// to the trace buffer unchanged, and a format with any other byte is a compile error (the
/// kernel would refuse the call and print nothing).
#[test]
fn every_byte_value_compares_and_prints_as_itself() {
    if !kernel_ready("every_byte_value_compares_and_prints_as_itself") {
        return;
    }
    let esc = |bytes: &mut dyn Iterator<Item = u8>| -> String {
        bytes.map(|b| format!("\\{b:03}")).collect()
    };
    let mut src = String::from("return {\n");
    for i in 0..8u8 {
        let (a, b) = (u32::from(i) * 32, u32::from(i) * 32 + 32);
        let chunk = esc(&mut (a..b).map(|b| b as u8));
        src.push_str(&format!(
            "  c{i} = bpf.socket(function (skb) return pkt.ip.udp.data({a}, {b}) == '{chunk}' and 1 or 0 end),\n"
        ));
    }
    let printable = |b: u8| b.is_ascii_graphic() || matches!(b, b' ' | b'\t'..=b'\r');
    let printed: Vec<u8> = (0..=255u8)
        .filter(|b| printable(*b) && *b != b'%' && *b != b'\n')
        .collect();
    for b in (0..=255u8).filter(|b| !printable(*b)) {
        let bad = format!(
            "return {{ pr = bpf.socket(function (skb) print('x\\{b:03}y') return 0 end) }}\n"
        );
        let err = ljbpf_tests::compile_str("bad_byte.lua", bad.as_bytes())
            .err()
            .unwrap_or_else(|| panic!("a print format with byte {b} compiles"));
        assert!(
            err.to_string()
                .contains(&format!("byte 1 of the format is \\x{b:02x}")),
            "{err}"
        );
    }
    src.push_str(&format!(
        "  pr = bpf.socket(function (skb) print('<ljbpf-bytes' .. '{}' .. '>%d\\n', 7) return 0 end),\n}}\n",
        esc(&mut printed.iter().copied())
    ));
    let compiled = compile_ok("every_byte.lua", &src);
    let p = load(&compiled);
    let payload: Vec<u8> = (0..=255u8).collect();
    let mut ip = Ip4::new(17);
    ip.ttl = 64;
    let pkt = frame(0x0800, &ip.with(&udp(1, 80, &payload)));
    for i in 0..8 {
        assert_eq!(
            test_run(&p, &format!("c{i}"), &pkt),
            1,
            "chunk {i}\n{}",
            compiled.listing
        );
        let mut changed = payload.clone();
        changed[i * 32 + 31] ^= 0x80;
        let other = frame(0x0800, &ip.with(&udp(1, 80, &changed)));
        assert_eq!(
            test_run(&p, &format!("c{i}"), &other),
            0,
            "chunk {i} changed"
        );
    }
    test_run(&p, "pr", &pkt);
    let trace = std::fs::read("/sys/kernel/tracing/trace").expect("trace buffer");
    let mut want = b"<ljbpf-bytes".to_vec();
    want.extend_from_slice(&printed);
    want.extend_from_slice(b">7");
    assert!(
        trace.windows(want.len()).any(|w| w == want.as_slice()),
        "the trace buffer lacks the printed bytes"
    );
}
