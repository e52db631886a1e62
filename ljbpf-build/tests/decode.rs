//! Guards ljbpf's copy of LuaJIT's opcode table (`lua::bc`) against the LuaJIT the build links:
//! each snippet must decode, through `jit.util.funcbc`, into the opcodes LuaJIT's parser emits
//! for it. A LuaJIT with another opcode order fails here before it miscompiles anything.

use ljbpf_build::lua::bc::Op;
use ljbpf_build::lua::load::load;

/// Decodes the single program of a probe whose body is `body` (inputs `a`, `b` are numbers).
fn ops(body: &str) -> Vec<Op> {
    let src = format!(
        "return {{ p = bpf.socket(function (skb)\n  local a, b = skb.len, skb.mark\n  {body}\nend) }}\n"
    );
    let loaded = load("decode.lua", src.as_bytes()).unwrap_or_else(|e| panic!("{body}: {e}"));
    loaded.programs[0]
        .proto
        .ins
        .iter()
        .map(|(i, _)| i.op)
        .collect()
}

fn has(body: &str, want: &[Op]) {
    let got = ops(body);
    for w in want {
        assert!(
            got.contains(w),
            "`{body}` should contain {}: got {got:?}",
            w.name()
        );
    }
}

#[test]
fn function_header_is_funcf() {
    // FUNCF moved from 89 to 96 when this LuaJIT added BNOT..BSAR.
    assert_eq!(ops("return 1")[0], Op::FUNCF);
    assert_eq!(Op::FUNCF as u8, 96);
}

#[test]
fn native_bit_operators() {
    has("return a & b", &[Op::BAND]);
    has("return a | b", &[Op::BOR]);
    has("return a ~ b", &[Op::BXOR]);
    has("return ~a", &[Op::BNOT]);
    has("return a << b", &[Op::BSHL]);
    has("return a >> b", &[Op::BSHR]);
    has("return a ~>> b", &[Op::BSAR]);
}

#[test]
fn arithmetic_forms() {
    has("return a + 1", &[Op::ADDVN]);
    has("return 1 - a", &[Op::SUBNV]);
    has("return a * b", &[Op::MULVV]);
    has("return a / 2", &[Op::DIVVN]);
    has("return a % b", &[Op::MODVV]);
    has("return -a", &[Op::UNM]);
    has("return not a", &[Op::NOT]);
}

#[test]
fn comparisons_and_tests() {
    has("if a < b then return 1 end return 0", &[Op::ISGE, Op::JMP]);
    has(
        "if a == 3 then return 1 end return 0",
        &[Op::ISNEN, Op::JMP],
    );
    has(
        "if a == nil then return 1 end return 0",
        &[Op::ISNEP, Op::JMP],
    );
    has(
        "if a == 'x' then return 1 end return 0",
        &[Op::ISNES, Op::JMP],
    );
    has("local c = a or b return c", &[Op::ISTC]);
    has("local c = a and b return c", &[Op::ISFC]);
    has("if a then return 1 end", &[Op::ISF, Op::RET1, Op::RET0]);
}

#[test]
fn constants_calls_and_tables() {
    has("return 100000", &[Op::KNUM]);
    has("return 7", &[Op::KSHORT]);
    has("return 1LL", &[Op::KCDATA]);
    has("local s = 'x' return 0", &[Op::KSTR]);
    has("local t = true return 0", &[Op::KPRI]);
    has("return bit.band(a, b)", &[Op::GGET, Op::TGETS, Op::CALLT]);
    has("local x = bit.band(a, b) return x", &[Op::CALL]);
    has("skb.mark = 1", &[Op::TSETS]);
}
