//! Loops (numeric `for`, `while`, `repeat`, `break`) computed by the kernel agree with LuaJIT
//! running the same function on the same input.

use ljbpf_tests::{compile_ok, ipv4_frame, kernel_ready, load};
use mlua::Lua;

/// Loop bodies over `n` (the packet's IP TTL); each returns a number.
const BODIES: &[&str] = &[
    "local s = 0 for i = 1, 10 do s = s + i end return s",
    "local s = 0 for i = 10, 1, -3 do s = s + i * 100 end return s",
    "local s = 0 for i = 1, n do s = s + i end return s",
    "local s = 0 for i = n, 0, -2 do s = s + 1 end return s",
    "local k = 0 while n > 1 and k < 200 do if n % 2 == 0 then n = n / 2 else n = 3 * n + 1 end k = k + 1 end return k",
    "local j = 0 repeat j = j + 3 until j >= n return j",
    "local s = 0 for i = 1, 50 do if i > n then break end s = s + i end return s",
    "local s = 0 for i = 1, 20 do if i % 3 == 0 then goto continue end s = s + i ::continue:: end return s",
    "local s = 1 for i = 1, 5 do for j = 1, 4 do s = s + i * j end end return s",
    "local x = 0 for i = 0, 15 do x = bit.bxor(x, bit.lshift(n, i)) end return bit.band(x, 0xffff)",
];

#[test]
fn loops_agree_with_luajit() {
    if !kernel_ready("loops_agree_with_luajit") {
        return;
    }
    let lua = Lua::new();
    let mut compared = 0;
    for (i, body) in BODIES.iter().enumerate() {
        let src = format!(
            "return {{ f = bpf.socket(function (skb)\n  local n = pkt.ip.ttl\n  {body}\nend) }}\n"
        );
        let probe = compile_ok(&format!("loop{i}.lua"), &src);
        let loaded = load(&probe);
        let reference: mlua::Function = lua
            .load(format!("return function (n) {body} end"))
            .eval()
            .unwrap();
        for ttl in [0u8, 1, 2, 7, 27, 64, 255] {
            let want: f64 = reference.call(f64::from(ttl)).unwrap();
            let got = loaded
                .test_run("f", &ipv4_frame(ttl, 17, &[]), 1)
                .unwrap()
                .retval;
            assert_eq!(
                f64::from(got),
                want,
                "`{body}` with n = {ttl}\n{}",
                probe.listing
            );
            compared += 1;
        }
    }
    println!("{compared} loop cases agree");
}
