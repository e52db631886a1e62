//! Everyday Lua idioms and the packet-edge rules, in the kernel (`BPF_PROG_TEST_RUN`).
//!
//! Each program is what a probe author writes; the expected results are LuaJIT's, worked out
//! by hand from the Lua text for packets that take every path:
//! - values whose kind differs between paths: a local that is nil on some paths, `x or 5`,
//!   `c or nil`, a map lookup with a default, a `uint64_t` map value summed into a number (the
//!   sum is then a uint64 cdata, compared unsigned), a boolean or a number;
//! - strings: upvalue strings (a file-level local, a table field, 5 bytes), bytes >= 0x80,
//!   a slice compared with a slice;
//! - the packet's edges: a read before the start through run-time dissector arithmetic, past
//!   the end, a slice crossing the end, `load_bytes` (which reports instead of ending);
//! - a loop bounded by `%` of a packet byte; `lpm_trie` lookups and updates;
//! - the same idioms in XDP and tc programs, where nil and the packet edges give the pass verdict.

use ljbpf_runtime::aya::maps::lpm_trie::{Key, LpmTrie};
use ljbpf_runtime::aya::maps::{Array, HashMap};
use ljbpf_tests::{compile_ok, kernel_ready, load, test_run};

/// A test-run frame whose packet (what the dissector sees from offset 0) is `bytes`: 14 filler
/// bytes first, which the kernel strips.
fn raw(bytes: &[u8]) -> Vec<u8> {
    let mut p = vec![0xee; 14];
    p.extend_from_slice(bytes);
    p
}

const IDIOMS: &str = r#"
local seen = bpf.map('hash', 16, 'uint32_t', 'uint32_t')
local m = bpf.map('array', 4, 'uint32_t', 'uint64_t')
return {
  seen = seen,
  m = m,
  nil_or_num = bpf.socket(function (skb)
    local x
    if pkt[0] == 1 then x = 3 end
    if x then return x end
    return 7
  end),
  or_default = bpf.socket(function (skb)
    local x
    if pkt[0] == 1 then x = 3 end
    return x or 5
  end),
  or_nil = bpf.socket(function (skb)
    local c = pkt[0] > 1
    local v = c or nil
    if not v then return 9 end
    return 4
  end),
  is_nil = bpf.socket(function (skb)
    local x
    if pkt[0] == 1 then x = pkt[1] end
    if x == nil then return 50 end
    return x + 100
  end),
  lookup_default = bpf.socket(function (skb) return seen[pkt[0]] or 1 end),
  u64_sum = bpf.socket(function (skb)
    local r = 0
    local w = m[pkt[0]]
    if w then r = r + w end
    return r
  end),
  u64_sum_cmp = bpf.socket(function (skb)
    local r = -1
    local w = m[pkt[0]]
    if w then r = r + w end
    if r < 0 then return 1 end
    return 2
  end),
  u64_sum_div = bpf.socket(function (skb)
    local r = -8
    local w = m[pkt[0]]
    if w then r = r + w end
    return r / 3 + 1000
  end),
  lookup_or_set = bpf.socket(function (skb)
    local v = seen[pkt[0]]
    if pkt[1] == 1 then v = 5 end
    return v or 1
  end),
  loop_carried = bpf.socket(function (skb)
    local x
    for i = 1, 3 do
      if pkt[i] == 1 then x = i end
    end
    return x or 9
  end),
  u64_neg = bpf.socket(function (skb)
    local r = 5
    local w = m[pkt[0]]
    if w then r = r + w end
    local z = -r
    if z < 0 then return 1 end
    return 2
  end),
  bool_or_num = bpf.socket(function (skb)
    local b = pkt[0]
    local q = (b > 9) or 6
    if q == true then return 100 end
    return q
  end),
}
"#;

#[test]
fn values_whose_kind_differs_between_paths() {
    if !kernel_ready("values_whose_kind_differs_between_paths") {
        return;
    }
    let probe = compile_ok("idioms.lua", IDIOMS);
    let mut p = load(&probe);
    let run = |p: &ljbpf_runtime::Probe, prog: &str, bytes: &[u8]| test_run(p, prog, &raw(bytes));

    assert_eq!(run(&p, "nil_or_num", &[1]), 3);
    assert_eq!(run(&p, "nil_or_num", &[2]), 7);
    assert_eq!(run(&p, "or_default", &[1]), 3);
    assert_eq!(run(&p, "or_default", &[0]), 5);
    assert_eq!(run(&p, "or_nil", &[5]), 4);
    assert_eq!(run(&p, "or_nil", &[1]), 9);
    assert_eq!(run(&p, "is_nil", &[1, 7]), 107);
    assert_eq!(run(&p, "is_nil", &[2, 7]), 50);
    assert_eq!(run(&p, "loop_carried", &[0, 0, 1, 0]), 2);
    assert_eq!(run(&p, "loop_carried", &[0, 1, 1, 1]), 3);
    assert_eq!(run(&p, "loop_carried", &[0, 0, 0, 0]), 9);
    assert_eq!(run(&p, "lookup_or_set", &[3, 1]), 5);
    assert_eq!(run(&p, "lookup_or_set", &[3, 0]), 1);
    assert_eq!(run(&p, "bool_or_num", &[10]), 100);
    assert_eq!(run(&p, "bool_or_num", &[3]), 6);

    // The map value when the key is there, the default when not.
    assert_eq!(run(&p, "lookup_default", &[3]), 1);
    {
        let mut seen: HashMap<_, u32, u32> = HashMap::try_from(p.map_mut("seen").unwrap()).unwrap();
        seen.insert(3, 42, 0).unwrap();
    }
    assert_eq!(run(&p, "lookup_default", &[3]), 42);
    assert_eq!(run(&p, "lookup_default", &[4]), 1);
    assert_eq!(run(&p, "lookup_or_set", &[3, 0]), 42);
    assert_eq!(run(&p, "lookup_or_set", &[3, 1]), 5);

    // number + uint64 cdata is a uint64 cdata: compared unsigned, divided unsigned.
    {
        let mut m: Array<_, u64> = Array::try_from(p.map_mut("m").unwrap()).unwrap();
        m.set(1, 5, 0).unwrap();
        m.set(2, 0, 0).unwrap();
    }
    assert_eq!(run(&p, "u64_sum", &[1]), 5);
    assert_eq!(run(&p, "u64_sum", &[9]), 0); // no entry 9: r stays the number 0
    assert_eq!(run(&p, "u64_sum_cmp", &[9]), 1); // -1 < 0 (numbers)
    assert_eq!(run(&p, "u64_sum_cmp", &[2]), 2); // -1 + 0ULL = 2^64 - 1, not < 0
    assert_eq!(run(&p, "u64_sum_cmp", &[1]), 2);
    assert_eq!(run(&p, "u64_neg", &[9]), 1); // -5 < 0
    assert_eq!(run(&p, "u64_neg", &[2]), 2); // -(5ULL) = 2^64 - 5, not < 0
    assert_eq!(run(&p, "u64_sum_div", &[9]), 998); // -8 / 3 + 1000, truncated
                                                   // (2^64 - 8) / 3 + 1000, unsigned: its low 32 bits.
    let big = ((u64::MAX - 7) / 3 + 1000) as u32;
    assert_eq!(run(&p, "u64_sum_div", &[2]), big);
}

const STRINGS: &str = r#"
local GET = 'GET '
local M = { post = 'POST ' }
return {
  upvalue = bpf.socket(function (skb) if pkt(0, 4) == GET then return 1 end return 2 end),
  field = bpf.socket(function (skb) if pkt(0, 5) == M.post then return 1 end return 2 end),
  high = bpf.socket(function (skb) if pkt(0, 1) == '\200' then return 1 end return 2 end),
  broadcast = bpf.socket(function (skb)
    if pkt(0, 6) == '\255\255\255\255\255\255' then return 1 end
    return 2
  end),
  slices = bpf.socket(function (skb) if pkt(0, 6) == pkt(6, 12) then return 1 end return 2 end),
  short_slices = bpf.socket(function (skb) if pkt(0, 3) == pkt(3, 6) then return 1 end return 2 end),
  hello = bpf.socket(function (skb) if pkt(0, 5) == 'HELLO' then return 1 end return 2 end),
}
"#;

#[test]
fn strings_compare_byte_exact() {
    if !kernel_ready("strings_compare_byte_exact") {
        return;
    }
    let probe = compile_ok("strings.lua", STRINGS);
    let p = load(&probe);
    let run = |prog: &str, bytes: &[u8]| test_run(&p, prog, &raw(bytes));
    assert_eq!(run("upvalue", b"GET /"), 1);
    assert_eq!(run("upvalue", b"PUT /"), 2);
    assert_eq!(run("field", b"POST /"), 1);
    assert_eq!(run("field", b"POSTX"), 2);
    // Lua's `\200` is decimal: the byte 200.
    assert_eq!(run("high", &[200]), 1);
    assert_eq!(run("high", &[128]), 2);
    assert_eq!(run("high", &[]), 0); // empty packet: the read ends the program
    assert_eq!(run("broadcast", &[0xff; 6]), 1);
    assert_eq!(run("broadcast", &[0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]), 2);
    assert_eq!(run("slices", &[1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6]), 1);
    assert_eq!(run("slices", &[1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 7]), 2);
    assert_eq!(run("slices", &[1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5]), 0); // crosses the end
    assert_eq!(run("short_slices", &[9, 8, 7, 9, 8, 7]), 1);
    assert_eq!(run("short_slices", &[9, 8, 7, 9, 8, 6]), 2);
    // A slice crossing the end ends the program with 0, whatever the bytes before the end.
    assert_eq!(run("hello", b"HELLO"), 1);
    assert_eq!(run("hello", b"HELL"), 0);
    assert_eq!(run("hello", b"XELL"), 0);
    assert_eq!(run("hello", b"XELLO"), 2);
}

const EDGES: &str = r#"
return {
  before_start = bpf.socket(function (skb)
    local d = pkt + (pkt[0] - 128) * 8192
    return d[20] + 1000
  end),
  small_negative = bpf.socket(function (skb)
    local d = pkt + (pkt[0] - 128)
    return d[2] + 1000
  end),
  past_end = bpf.socket(function (skb)
    local d = pkt + pkt[0] * 65536
    return d[0] + 1000
  end),
  constant_negative = bpf.socket(function (skb)
    local d = pkt + (-1048576)
    return d[14] + 1000
  end),
  index = bpf.socket(function (skb) return pkt[pkt[0] - 200] + 1000 end),
  load_bytes = bpf.socket(function (skb)
    local buf = ffi.new('uint8_t[4]')
    local r = load_bytes(pkt[0], buf)
    if r < 0 then return 7 end
    return buf[0] * 256 + buf[3]
  end),
  mod_loop = bpf.socket(function (skb)
    local s = 0
    for i = 0, pkt[0] % 8 do s = s + pkt[i] end
    return s
  end),
  mod_loop_7 = bpf.socket(function (skb)
    local s = 0
    for i = 0, pkt[0] % 7 do s = s + pkt[i] end
    return s
  end),
  div_loop = bpf.socket(function (skb)
    local s = 0
    for i = 0, pkt[0] / 40 do s = s + pkt[i] end
    return s
  end),
}
"#;

#[test]
fn packet_edges_end_the_program() {
    if !kernel_ready("packet_edges_end_the_program") {
        return;
    }
    let probe = compile_ok("edges.lua", EDGES);
    let p = load(&probe);
    let run = |prog: &str, bytes: &[u8]| test_run(&p, prog, &raw(bytes));
    let mut pkt = vec![0x11u8; 40];
    pkt[20] = 5;
    // pkt[0] = 128: no move; 0: 128 * 8192 bytes before the start (the kernel's SKF_NET_OFF
    // window is at -2^20): a read outside the packet ends the program with 0.
    pkt[0] = 128;
    assert_eq!(run("before_start", &pkt), 1005);
    for b in [0u8, 1, 2, 127] {
        pkt[0] = b;
        assert_eq!(run("before_start", &pkt), 0, "pkt[0] = {b}");
    }
    pkt[0] = 123; // d[2] is 3 bytes before the start
    assert_eq!(run("small_negative", &pkt), 0);
    pkt[0] = 130;
    assert_eq!(run("small_negative", &pkt), 1000 + 0x11);
    pkt[0] = 0;
    assert_eq!(run("past_end", &pkt), 1000);
    for b in [1u8, 255] {
        pkt[0] = b;
        assert_eq!(run("past_end", &pkt), 0, "pkt[0] = {b}");
    }
    assert_eq!(run("constant_negative", &pkt), 0);
    pkt[0] = 210;
    assert_eq!(run("index", &pkt), 1000 + 0x11);
    pkt[0] = 10;
    assert_eq!(run("index", &pkt), 0);

    // load_bytes reports instead of ending the program: a negative error.
    let lb = [1u8, 0xaa, 2, 3, 0xbb, 9];
    assert_eq!(run("load_bytes", &lb), 0xaa * 256 + 0xbb);
    let mut lb2 = lb;
    lb2[0] = 2;
    assert_eq!(run("load_bytes", &lb2), 2 * 256 + 9);
    lb2[0] = 3;
    assert_eq!(run("load_bytes", &lb2), 7);
    lb2[0] = 200;
    assert_eq!(run("load_bytes", &lb2), 7);

    // Loops bounded by `%` and `/` of a packet byte verify and count right.
    assert_eq!(run("mod_loop", &[3, 1, 2, 3, 4]), 3 + 1 + 2 + 3);
    assert_eq!(run("mod_loop", &[11, 1, 2, 3, 4]), 11 + 1 + 2 + 3);
    assert_eq!(run("mod_loop_7", &[9, 1, 2, 3]), 9 + 1 + 2);
    assert_eq!(run("div_loop", &[81, 1, 2, 3]), 81 + 1 + 2);
    assert_eq!(run("mod_loop", &[7, 1, 2]), 0); // reads past the end
}

const LPM: &str = r#"
ffi.cdef[[ struct lpm_key4 { uint32_t prefixlen; uint8_t addr[4]; }; ]]
local trie = bpf.map('lpm_trie', 16, 'struct lpm_key4', 'uint32_t')
return {
  trie = trie,
  route = bpf.socket(function (skb)
    local k = ffi.new('struct lpm_key4')
    k.prefixlen = 32
    k.addr[0] = pkt[0]
    k.addr[1] = pkt[1]
    k.addr[2] = pkt[2]
    k.addr[3] = pkt[3]
    local v = trie[k]
    if v then return v[0] end
    k.prefixlen = 16
    trie[k] = 77
    return 1
  end),
}
"#;

#[test]
fn lpm_trie_lookup_and_update() {
    if !kernel_ready("lpm_trie_lookup_and_update") {
        return;
    }
    let probe = compile_ok("lpm.lua", LPM);
    let mut p = load(&probe);
    {
        let mut t: LpmTrie<_, [u8; 4], u32> =
            LpmTrie::try_from(p.map_mut("trie").unwrap()).unwrap();
        t.insert(&Key::new(8, [10, 0, 0, 0]), 42, 0).unwrap();
    }
    let run = |p: &ljbpf_runtime::Probe, bytes: &[u8]| test_run(p, "route", &raw(bytes));
    assert_eq!(run(&p, &[10, 1, 2, 3]), 42); // longest prefix 10/8
    assert_eq!(run(&p, &[192, 168, 1, 1]), 1); // no route: the program adds 192.168/16
    assert_eq!(run(&p, &[192, 168, 7, 7]), 77);
    let t: LpmTrie<_, [u8; 4], u32> = LpmTrie::try_from(p.map_mut("trie").unwrap()).unwrap();
    assert_eq!(t.get(&Key::new(16, [192, 168, 0, 0]), 0).unwrap(), 77);
}

const DIRECT: &str = r#"
local GET = 'GET '
local M = { post = 'POST ' }
local m = bpf.map('array', 4, 'uint32_t', 'uint64_t')
local function idioms(kind)
  return {
    nil_return = kind(function (ctx)
      local x
      if pkt[14] == 1 then x = 3 end
      return x
    end),
    or_default = kind(function (ctx)
      local x
      if pkt[14] == 1 then x = 3 end
      return x or 5
    end),
    lookup_default = kind(function (ctx) return (m[pkt[14]] or 1) + 0ULL end),
    bool_or_num = kind(function (ctx)
      local q = (pkt[14] > 9) or 6
      if q == true then return 100 end
      return q
    end),
    strings = kind(function (ctx)
      if pkt(14, 18) == GET then return 1 end
      if pkt(14, 19) == M.post then return 3 end
      if pkt(14, 20) == pkt(20, 26) then return 4 end
      return 5
    end),
    before_start = kind(function (ctx)
      local d = pkt + (pkt[14] - 128) * 8192
      return d[34] + 1000
    end),
    mod_loop = kind(function (ctx)
      local s = 0
      for i = 0, pkt[14] % 8 do s = s + pkt[i + 14] end
      return s
    end),
  }
end
local x, t = idioms(bpf.xdp), idioms(bpf.tc)
return {
  m = m,
  x_nil_return = x.nil_return, x_or_default = x.or_default,
  x_lookup_default = x.lookup_default, x_bool_or_num = x.bool_or_num, x_strings = x.strings,
  x_before_start = x.before_start, x_mod_loop = x.mod_loop,
  t_nil_return = t.nil_return, t_or_default = t.or_default,
  t_lookup_default = t.lookup_default, t_bool_or_num = t.bool_or_num, t_strings = t.strings,
  t_before_start = t.before_start, t_mod_loop = t.mod_loop,
}
"#;

/// The same idioms in XDP and tc programs (direct packet access), where "no value" and a
/// read outside the packet are the kind's pass verdict (`XDP_PASS` 2, `TC_ACT_OK` 0): a
/// local that is nil on the returning path returns it as `return nil` does, and a loop
/// bounded by `%` of a byte read directly verifies.
#[test]
fn idioms_with_direct_packet_access() {
    if !kernel_ready("idioms_with_direct_packet_access") {
        return;
    }
    let probe = compile_ok("direct.lua", DIRECT);
    let mut p = load(&probe);
    {
        let mut m: Array<_, u64> = Array::try_from(p.map_mut("m").unwrap()).unwrap();
        m.set(2, 0x1_0000_0007, 0).unwrap();
    }
    // The frame from its first byte: 14 bytes of Ethernet header, then `rest`.
    let frame = |rest: &[u8]| {
        let mut f = vec![0xee; 14];
        f.extend_from_slice(rest);
        f
    };
    for (k, pass) in [("x", 2u32), ("t", 0)] {
        let run = |prog: &str, rest: &[u8]| test_run(&p, &format!("{k}_{prog}"), &frame(rest));
        assert_eq!(run("nil_return", &[1]), 3);
        assert_eq!(
            run("nil_return", &[2]),
            pass,
            "{k}: nil returns the pass verdict"
        );
        assert_eq!(run("or_default", &[1]), 3);
        assert_eq!(run("or_default", &[0]), 5);
        assert_eq!(run("lookup_default", &[2]), 7); // the low 32 bits of the map value
        assert_eq!(run("lookup_default", &[3]), 0);
        assert_eq!(run("lookup_default", &[9]), 1); // past the array: nil
        assert_eq!(run("bool_or_num", &[10]), 100);
        assert_eq!(run("bool_or_num", &[3]), 6);
        assert_eq!(run("strings", b"GET /x......."), 1);
        assert_eq!(run("strings", b"POST /......."), 3);
        assert_eq!(run("strings", b"abcdefabcdef"), 4);
        assert_eq!(run("strings", b"abcdefabcdeg"), 5);
        assert_eq!(
            run("strings", b"abcdefabcde"),
            pass,
            "{k}: a slice crossing the end"
        );
        assert_eq!(
            run("strings", b"POST"),
            pass,
            "{k}: 'GET ' does not match, M.post crosses"
        );
        let mut pkt = vec![0x11u8; 40];
        pkt[20] = 5;
        pkt[0] = 128;
        assert_eq!(run("before_start", &pkt), 1005);
        for b in [0u8, 1, 127] {
            pkt[0] = b;
            assert_eq!(run("before_start", &pkt), pass, "{k}: pkt[14] = {b}");
        }
        assert_eq!(run("mod_loop", &[3, 1, 2, 3, 4]), 3 + 1 + 2 + 3);
        assert_eq!(run("mod_loop", &[11, 1, 2, 3, 4]), 11 + 1 + 2 + 3);
        assert_eq!(
            run("mod_loop", &[7, 1, 2]),
            pass,
            "{k}: the loop reads past the end"
        );
    }
}
