//! `ffi.new` (with initialisers), `ffi.cast`, field and element stores on stack objects, and
//! `math.log*` computed by the kernel agree with LuaJIT's own ffi running the same function.

use ljbpf_tests::{compile_ok, ipv4_frame, kernel_ready, load};
use mlua::Lua;

/// Bodies over `n` (the packet's IP TTL); each returns a number.
const BODIES: &[&str] = &[
    "local a = ffi.new('uint8_t[4]', 1, 2) return a[0] * 1000 + a[1] * 100 + a[2] * 10 + a[3]",
    "local a = ffi.new('int32_t[3]', n) return a[0] + a[1] + a[2]",
    "local s = ffi.new('struct pair', n, 7) return s.a * 100 + s.b",
    "local s = ffi.new('struct pair') s.b = n s.a = s.b + 1 return s.a - s.b",
    "local s = ffi.new('struct wide', -1) return s.x == 255 and 1 or 0",
    "return ffi.cast('uint8_t', n + 250)",
    "return ffi.cast('int8_t', n + 100) + 200",
    "return tonumber(ffi.cast('uint16_t', n * 1000))",
    "local v = ffi.cast('int64_t', n) * 3 return tonumber(v)",
    "return math.floor(math.log(n + 1) / math.log(2) + 1e-9)",
];

const CDEF: &str = "struct pair { int32_t a; int32_t b; }; struct wide { uint8_t x; uint64_t y; };";

/// The probe side writes `tonumber(x)` as `x` and `math.floor(math.log(..)...)` as
/// `math.log2(..)`: the integer forms the compiler offers for them.
fn probe_body(body: &str) -> String {
    body.replace("tonumber(", "(").replace(
        "math.floor(math.log(n + 1) / math.log(2) + 1e-9)",
        "math.log2(n + 1)",
    )
}

#[test]
fn ffi_objects_and_casts_agree_with_luajit() {
    if !kernel_ready("ffi_objects_and_casts_agree_with_luajit") {
        return;
    }
    // SAFETY: the reference needs LuaJIT's ffi, which mlua only loads in an unsafe state.
    let lua = unsafe { Lua::unsafe_new() };
    lua.load(format!("require('ffi').cdef[[{CDEF}]]"))
        .exec()
        .unwrap();
    let mut compared = 0;
    for (i, body) in BODIES.iter().enumerate() {
        let src = format!(
            "ffi.cdef[[{CDEF}]]\nreturn {{ f = bpf.socket(function (skb)\n  local n = pkt.ip.ttl\n  {}\nend) }}\n",
            probe_body(body)
        );
        let probe = compile_ok(&format!("ffi{i}.lua"), &src);
        let loaded = load(&probe);
        let reference: mlua::Function = lua
            .load(format!(
                "local ffi = require('ffi') return function (n) return tonumber((function () {body} end)()) end"
            ))
            .eval()
            .unwrap();
        for ttl in [0u8, 1, 5, 64, 200, 255] {
            let want: f64 = reference.call(f64::from(ttl)).unwrap();
            let got = loaded
                .test_run("f", &ipv4_frame(ttl, 17, &[]), 1)
                .unwrap()
                .retval;
            assert_eq!(
                f64::from(got as i32),
                want,
                "`{body}` with n = {ttl}\n{}",
                probe.listing
            );
            compared += 1;
        }
    }
    println!("{compared} ffi cases agree");
}
