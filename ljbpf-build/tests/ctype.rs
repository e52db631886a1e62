//! C type layouts: hand-computed, against gcc and against LuaJIT; errors and garbled input.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::Rng;
use ljbpf_build::ctype::{CType, CTypes, StructDef};

fn cdef(src: &str) -> CTypes {
    let mut t = CTypes::new();
    if let Err(e) = t.cdef(src) {
        panic!("cdef failed: {e}\n{src}");
    }
    t
}

fn ty(t: &CTypes, s: &str) -> CType {
    t.parse_type(s)
        .unwrap_or_else(|e| panic!("parse_type({s:?}): {e}"))
}

/// (size, align) of a type and the offsets of the named fields.
fn offsets(t: &CTypes, s: &str, fields: &[&str]) -> (u32, u32, Vec<u32>) {
    let st = ty(t, s);
    let offs = fields
        .iter()
        .map(|f| {
            st.field(f)
                .unwrap_or_else(|| panic!("{s} has no field {f}"))
                .offset
        })
        .collect();
    (st.size(), st.align(), offs)
}

/// Declarations valid both for `CTypes::cdef` and for gcc (after the prelude below).
const DECLS: &str = r#"
enum { TASK_COMM_LEN = 16 };
struct event_t { uint32_t pid; uint64_t ts; char comm[TASK_COMM_LEN]; };
struct key_t { char c; short s; int i; long l; char tail; };
struct arrs { uint8_t a[3]; uint16_t b[2][3]; uint64_t c; char d; int e[sizeof(struct event_t) / 8]; };
union u1 { char c[5]; int i; short s; };
struct nested { char x; struct event_t ev; union u1 u; char y; struct event_t evs[2]; };
struct anon {
    int kind;
    union { uint32_t a; uint64_t b; };
    struct { char c; short d; };
    char e;
};
typedef struct { uint16_t x; uint8_t y; } pair_t;
struct uses_td { pair_t p[3]; bool flag; pair_t q; _Bool r; };
struct bits1 { unsigned a:3, b:5; unsigned c:30; unsigned d:32; char e; };
struct bits2 { char a; int b:4; int :0; char c; short d:9; short e:9; };
struct bits3 { uint8_t a:1; uint8_t b:7; uint8_t c:2; uint32_t d:20; uint32_t e:15; int f:1; };
struct bits4 { int x; long y; int z:31; signed char w:3; unsigned char v:6; };
struct bits5 { char a; unsigned int b:12; unsigned int c:12; } __attribute__((packed));
struct bits6 { bool a:1; bool b:1; int c:3; };
struct packed1 { char a; int b; short c; long d; } __attribute__((packed));
struct packed2 { char a; int b __attribute__((packed)); short c; };
struct aligned1 { char a; int b __attribute__((aligned(16))); char c; };
struct aligned2 { char a; } __attribute__((aligned(8)));
struct __attribute__((packed)) packed3 { short a; long long b; };
struct ptrs { char *p; const char *q; void *r; struct ptrs *next; int (*fn)(int); char (*pa)[16]; char c; };
enum color { RED, GREEN = 5, BLUE };
enum neg { NEG = -1, POS = 1 };
struct en { enum color c; char x; enum neg n; };
struct kern { __u8 a; __be16 b; __u32 c; u64 d; s8 e; __wsum f; __sum16 g; size_t h; ssize_t i; };
struct flex { uint32_t len; char data[]; };
struct ints {
    char a; signed char b; unsigned char c; short d; short int e; unsigned short f;
    int g; unsigned h; unsigned int i; long j; long int k; unsigned long l;
    long long m; unsigned long long n; long unsigned int o; intptr_t p; uintptr_t q;
    ptrdiff_t r; int8_t s; int16_t t; int32_t u; int64_t v; uint8_t w;
};
struct deep { struct { struct { char c; long l; } in2; short s; } in1; char t; };
typedef struct key_t key_alias;
typedef key_alias key_arr[3];
struct use_arr { char c; key_arr k; };
"#;

/// Names of struct types in DECLS to check, as C spells them.
fn decl_types(t: &CTypes) -> Vec<(String, std::rc::Rc<StructDef>)> {
    t.structs()
        .filter(|s| s.name.is_some() || s.typedef_name.is_some())
        .map(|s| (s.c_name(), s.clone()))
        .collect()
}

#[test]
fn hand_computed_layouts() {
    let t = cdef(DECLS);
    assert_eq!(
        offsets(&t, "struct event_t", &["pid", "ts", "comm"]),
        (32, 8, vec![0, 8, 16])
    );
    assert_eq!(
        offsets(&t, "struct key_t", &["c", "s", "i", "l", "tail"]),
        (24, 8, vec![0, 2, 4, 8, 16])
    );
    // a[3]@0, b[2][3]@4 (12 bytes), c@16, d@24, e[4]@28 → 44 → 48
    assert_eq!(
        offsets(&t, "struct arrs", &["a", "b", "c", "d", "e"]),
        (48, 8, vec![0, 4, 16, 24, 28])
    );
    assert_eq!(
        offsets(&t, "union u1", &["c", "i", "s"]),
        (8, 4, vec![0, 0, 0])
    );
    // x@0, ev@8 (32), u@40 (8), y@48, evs@56 (64) → 120
    assert_eq!(
        offsets(&t, "struct nested", &["x", "ev", "u", "y", "evs"]),
        (120, 8, vec![0, 8, 40, 48, 56])
    );
    // Anonymous members: their fields are found with offsets relative to the outer struct.
    assert_eq!(
        offsets(&t, "struct anon", &["kind", "a", "b", "c", "d", "e"]),
        (24, 8, vec![0, 8, 8, 16, 18, 20])
    );
    assert_eq!(offsets(&t, "pair_t", &["x", "y"]), (4, 2, vec![0, 2]));
    assert_eq!(
        offsets(&t, "struct uses_td", &["p", "flag", "q", "r"]),
        (20, 2, vec![0, 12, 14, 18])
    );
    assert_eq!(
        offsets(&t, "struct packed1", &["a", "b", "c", "d"]),
        (15, 1, vec![0, 1, 5, 7])
    );
    assert_eq!(
        offsets(&t, "struct packed2", &["a", "b", "c"]),
        (8, 2, vec![0, 1, 6])
    );
    assert_eq!(
        offsets(&t, "struct aligned1", &["a", "b", "c"]),
        (32, 16, vec![0, 16, 20])
    );
    assert_eq!(offsets(&t, "struct aligned2", &["a"]), (8, 8, vec![0]));
    assert_eq!(
        offsets(&t, "struct packed3", &["a", "b"]),
        (10, 1, vec![0, 2])
    );
    assert_eq!(
        offsets(&t, "struct ptrs", &["p", "q", "r", "next", "fn", "pa", "c"]),
        (56, 8, vec![0, 8, 16, 24, 32, 40, 48])
    );
    assert_eq!(
        offsets(&t, "struct en", &["c", "x", "n"]),
        (12, 4, vec![0, 4, 8])
    );
    assert_eq!(
        offsets(
            &t,
            "struct kern",
            &["a", "b", "c", "d", "e", "f", "g", "h", "i"]
        ),
        (48, 8, vec![0, 2, 4, 8, 16, 20, 24, 32, 40])
    );
    assert_eq!(
        offsets(&t, "struct flex", &["len", "data"]),
        (4, 4, vec![0, 4])
    );
    assert_eq!(
        offsets(&t, "struct deep", &["in1", "t"]),
        (32, 8, vec![0, 24])
    );
    assert_eq!(
        offsets(&t, "struct use_arr", &["c", "k"]),
        (80, 8, vec![0, 8])
    );

    // Bitfields: (container offset, bit position, width), LuaJIT's representation.
    let b1 = ty(&t, "struct bits1");
    let bits = |s: &CType, f: &str| s.field(f).map(|f| (f.offset, f.bits));
    assert_eq!(bits(&b1, "a"), Some((0, Some((0, 3)))));
    assert_eq!(bits(&b1, "b"), Some((0, Some((3, 5)))));
    assert_eq!(bits(&b1, "c"), Some((4, Some((0, 30)))));
    assert_eq!(
        bits(&b1, "d"),
        Some((8, None)),
        "a full aligned bitfield is a plain field"
    );
    assert_eq!(bits(&b1, "e"), Some((12, None)));
    assert_eq!((b1.size(), b1.align()), (16, 4));
    let b2 = ty(&t, "struct bits2");
    assert_eq!(bits(&b2, "b"), Some((0, Some((8, 4)))));
    assert_eq!(
        bits(&b2, "c"),
        Some((4, None)),
        "`int :0` aligns to the next int"
    );
    // d at bit 40 would straddle its short container (40 % 16 + 9 > 16): moves to bit 48.
    assert_eq!(bits(&b2, "d"), Some((6, Some((0, 9)))));
    assert_eq!(bits(&b2, "e"), Some((8, Some((0, 9)))));
    assert_eq!((b2.size(), b2.align()), (12, 4));

    // Enums and constants.
    assert_eq!(t.constant("GREEN"), Some(5));
    assert_eq!(t.constant("BLUE"), Some(6));
    assert_eq!(t.constant("NEG"), Some(-1));
    assert_eq!(t.constant("TASK_COMM_LEN"), Some(16));
    assert!(!ty(&t, "enum color").is_signed());
    assert!(ty(&t, "enum neg").is_signed());

    // Typedef'd anonymous struct takes the typedef's name.
    assert_eq!(ty(&t, "pair_t").c_name(), "pair_t");
    assert_eq!(ty(&t, "key_arr").c_name(), "struct key_t[3]");
    // Self-referential pointer: opaque when seen, resolvable afterwards.
    let next = ty(&t, "struct ptrs").field("next").map(|f| f.ty);
    let Some(CType::Pointer(pointee)) = next else {
        panic!("next is not a pointer: {next:?}")
    };
    assert_eq!(pointee.c_name(), "struct ptrs");
    assert_eq!(t.resolve(&pointee).size(), 56);
}

#[test]
fn type_strings() {
    let t = cdef(DECLS);
    for (s, size, name) in [
        ("uint32_t", 4, "uint32_t"),
        ("unsigned long long", 8, "uint64_t"),
        ("struct event_t", 32, "struct event_t"),
        ("char[16]", 16, "char[16]"),
        ("uint8_t *", 8, "uint8_t *"),
        ("const char *", 8, "char *"),
        ("int64_t", 8, "int64_t"),
        ("struct event_t[4]", 128, "struct event_t[4]"),
        ("struct event_t *", 8, "struct event_t *"),
        ("char (*)[16]", 8, "char (*)[16]"),
        ("bool", 1, "bool"),
        ("_Bool", 1, "bool"),
        ("long int", 8, "int64_t"),
        ("__be32", 4, "uint32_t"),
        ("enum color", 4, "uint32_t"),
        ("struct { int a; char b; }", 8, "struct <anonymous>"),
        ("char[TASK_COMM_LEN * 2]", 32, "char[32]"),
        ("void *", 8, "void *"),
    ] {
        let ct = ty(&t, s);
        assert_eq!((ct.size(), ct.c_name().as_str()), (size, name), "{s}");
    }
    assert!(ty(&t, "char").is_char());
    assert!(!ty(&t, "int8_t").is_char());
    assert!(ty(&t, "char").is_signed(), "char is signed on x86-64");
    // parse_type does not change the registry.
    assert!(t.parse_type("struct { int a; }").is_ok());
    assert_eq!(t.structs().count(), cdef(DECLS).structs().count());
}

#[test]
fn errors_carry_line_and_say_what_was_expected() {
    let cases: &[(&str, u32, &str)] = &[
        (
            "struct a {\n  int x;\n  foo_t y;\n};",
            3,
            "unknown type name `foo_t`",
        ),
        ("struct a {\n  int x\n};", 3, "expected `,` or `;`"),
        (
            "\n\nstruct b { struct nope n; };",
            3,
            "incomplete type `struct nope`",
        ),
        ("struct c { double d; };", 1, "floating point"),
        (
            "struct d { int a; };\nstruct d { long a; };",
            2,
            "redefined with a different body",
        ),
        (
            "typedef int t1;\ntypedef long t1;",
            2,
            "conflicting typedef `t1`",
        ),
        ("struct e { int a; int a; };", 1, "duplicate field `a`"),
        ("struct f { int a:40; };", 1, "out of range"),
        ("struct f2 { long a:4; };", 1, "at most 32-bit"),
        ("struct g { char x[-1]; };", 1, "invalid array size"),
        ("/* unterminated", 1, "unterminated"),
        ("#include <stdint.h>", 1, "preprocessor"),
        ("struct h { int x[N]; };", 1, "unknown constant `N`"),
        ("struct i { int a; ", 1, "unclosed"),
        (
            "struct j { char d[]; int after; };",
            1,
            "must be the last field",
        ),
        (
            "struct k { int x __attribute__((mode(DI))); };",
            1,
            "unsupported attribute `mode`",
        ),
        (
            "union l { int a; };\nstruct l *p;",
            2,
            "different kind of tag",
        ),
        ("enum m { M1 = 1 << 40 };", 1, "does not fit in 32 bits"),
        ("int x[1/0];", 1, "division by zero"),
    ];
    for (src, line, msg) in cases {
        let mut t = CTypes::new();
        match t.cdef(src) {
            Ok(()) => panic!("expected an error for {src:?}"),
            Err(e) => {
                assert_eq!(e.line, *line, "line for {src:?}: {e}");
                assert!(e.message.contains(msg), "message for {src:?}: {e}");
            }
        }
    }
    // Identical redefinition is fine; a failed cdef leaves the registry unchanged.
    let mut t = cdef("struct same { int a; char b[3]; }; typedef unsigned int u32;");
    assert!(t.cdef("struct same { int a; char b[3]; };").is_ok());
    assert!(t.cdef("struct new1 { int a; }; struct broken {").is_err());
    assert!(t.parse_type("struct new1").map(|x| x.size()) != Ok(4));
    assert!(t.parse_type("uint32_t x").is_err());
    assert!(t.parse_type("no_such_t").is_err());
    let e = t
        .parse_type("struct nope")
        .err()
        .map(|e| e.message)
        .unwrap_or_default();
    assert!(e.contains("incomplete"), "{e}");
    assert!(t.parse_type("struct nope *").is_ok());
    assert!(t.parse_type("").is_err());
}

#[test]
fn forward_declarations_and_misc_syntax() {
    let t = cdef(
        "struct fwd;\n\
         struct holder { struct fwd *p; };\n\
         struct fwd { int x; };\n\
         // line comment\n\
         static const int LIMIT = 4 * 1024;\n\
         int printf(const char *fmt, ...);\n\
         extern int some_var;\n\
         typedef void (*callback_t)(int, char *);\n\
         struct with_enum { enum { IN_A = 3, IN_B } k; callback_t cb; };\n\
         struct node { struct node *next; struct node *prev; unsigned long long v; };",
    );
    assert_eq!(t.constant("LIMIT"), Some(4096));
    assert_eq!(t.constant("IN_B"), Some(4));
    assert_eq!(ty(&t, "callback_t").c_name(), "void *");
    assert_eq!(ty(&t, "struct with_enum").size(), 16);
    assert_eq!(t.struct_by_tag("fwd").map(|s| s.size), Some(4));
    assert_eq!(ty(&t, "struct node").size(), 24);
    let names: Vec<String> = t.structs().map(|s| s.c_name()).collect();
    assert_eq!(
        names,
        [
            "struct holder",
            "struct fwd",
            "struct with_enum",
            "struct node"
        ]
    );
}

#[test]
fn never_panics_on_garbled_input() {
    let base = CTypes::new();
    let bytes = DECLS.as_bytes();
    // Every truncation.
    for end in 0..=bytes.len() {
        let s = String::from_utf8_lossy(&bytes[..end]);
        let _ = CTypes::new().cdef(&s);
    }
    // Random mutations: drop, duplicate or replace bytes with C punctuation.
    let alphabet = b"{}[]()*;:,=<>-+~!?/%&|^0x9_ a\n#'\"\\\xff";
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..2000 {
        let mut v = bytes.to_vec();
        for _ in 0..1 + rng.next() % 8 {
            if v.is_empty() {
                break;
            }
            let at = (rng.next() as usize) % v.len();
            let c = alphabet[(rng.next() as usize) % alphabet.len()];
            match rng.next() % 3 {
                0 => {
                    v.remove(at);
                }
                1 => v.insert(at, c),
                _ => v[at] = c,
            }
        }
        let s = String::from_utf8_lossy(&v);
        let _ = CTypes::new().cdef(&s);
        let piece = &s[..s.len().min(40)];
        let _ = base.parse_type(piece);
    }
    // Pathological nesting must be an error, not a stack overflow.
    let deep = format!("int {}x{};", "(".repeat(100_000), ")".repeat(100_000));
    assert!(CTypes::new().cdef(&deep).is_err());
    let deep = format!("int x[{}1{}];", "(".repeat(100_000), ")".repeat(100_000));
    assert!(CTypes::new().cdef(&deep).is_err());
    let deep = format!("int x[{}1];", "-".repeat(100_000));
    assert!(CTypes::new().cdef(&deep).is_err());
    let deep = "struct a { ".repeat(10_000);
    assert!(CTypes::new().cdef(&deep).is_err());
    for s in [
        "*",
        "[",
        "]",
        "(",
        ")",
        "struct",
        "enum",
        "unsigned long long long",
        "char[",
        "char[99999999999]",
        "char[4294967295][2]",
    ] {
        assert!(base.parse_type(s).is_err(), "{s}");
    }
}

/// Kernel typedef names DECLS uses that gcc's headers do not define.
const GCC_PRELUDE: &str = "#include <stdio.h>\n#include <stddef.h>\n#include <stdint.h>\n\
#include <stdbool.h>\n#include <string.h>\n#include <sys/types.h>\n\
typedef uint8_t __u8; typedef uint16_t __be16; typedef uint32_t __u32; typedef uint64_t u64;\n\
typedef int8_t s8; typedef uint32_t __wsum; typedef uint16_t __sum16;\n";

#[test]
fn layouts_match_gcc() {
    let Some(gcc) = which("gcc") else {
        println!("SKIP layouts_match_gcc: gcc not found in PATH");
        return;
    };
    let t = cdef(DECLS);
    let types = decl_types(&t);
    let mut c = String::from(GCC_PRELUDE);
    c.push_str(DECLS);
    c.push_str("int main(void) {\n");
    let mut expected = Vec::new();
    for (name, def) in &types {
        c.push_str(&format!(
            "printf(\"%s %zu %zu\\n\", \"{name}\", sizeof({name}), _Alignof({name}));\n"
        ));
        expected.push(format!("{name} {} {}", def.size, def.align));
        for f in def.field_names() {
            let Some(field) = def.field(&f) else { continue };
            let int_width = match (&field.ty, field.bits) {
                (_, Some((pos, width))) => Some((pos, width)),
                // Integer fields are checked by bit scanning too: a bitfield that fills its
                // container is a plain field for us but still not addressable in C.
                (CType::Int { size, .. }, None) => Some((0, size * 8)),
                _ => None,
            };
            match int_width {
                None => {
                    c.push_str(&format!(
                        "printf(\"%s.%s %zu\\n\", \"{name}\", \"{f}\", offsetof({name}, {f}));\n"
                    ));
                    expected.push(format!("{name}.{f} {}", field.offset));
                }
                Some((pos, width)) => {
                    // A bitfield's absolute bit range: set it to all ones in a zeroed struct
                    // and find the set bits (little-endian).
                    c.push_str(&format!(
                        "{{ {name} v; unsigned char b[sizeof v]; memset(&v, 0, sizeof v); v.{f} = -1; \
                         memcpy(b, &v, sizeof v); int lo = -1, n = 0; \
                         for (int i = 0; i < (int)(8 * sizeof v); i++) if (b[i / 8] >> (i % 8) & 1) {{ if (lo < 0) lo = i; n++; }} \
                         printf(\"%s.%s bits %d %d\\n\", \"{name}\", \"{f}\", lo, n); }}\n"
                    ));
                    expected.push(format!(
                        "{name}.{f} bits {} {width}",
                        field.offset * 8 + u32::from(pos)
                    ));
                }
            }
        }
    }
    c.push_str("return 0; }\n");
    let dir = std::env::temp_dir().join(format!("ljbpf-ctype-gcc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let src = dir.join("layout.c");
    let exe = dir.join("layout");
    std::fs::write(&src, &c).expect("write C");
    let out = Command::new(&gcc)
        .args(["-std=gnu11", "-w", "-o"])
        .arg(&exe)
        .arg(&src)
        .output()
        .expect("run gcc");
    assert!(
        out.status.success(),
        "gcc failed:\n{}\n{c}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = Command::new(&exe).output().expect("run layout program");
    let _ = std::fs::remove_dir_all(&dir);
    let got: Vec<String> = String::from_utf8_lossy(&run.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    let mismatches: Vec<String> = expected
        .iter()
        .zip(&got)
        .filter(|(e, g)| e != g)
        .map(|(e, g)| format!("ours: {e:<40} gcc: {g}"))
        .collect();
    assert_eq!(expected.len(), got.len(), "line counts differ");
    assert!(
        mismatches.is_empty(),
        "layout differs from gcc:\n{}",
        mismatches.join("\n")
    );
    println!(
        "{} types, {} lines agree with gcc",
        types.len(),
        expected.len()
    );
}

/// Kernel typedef names DECLS uses that LuaJIT does not predefine.
const LUAJIT_PRELUDE: &str =
    "typedef uint8_t __u8; typedef uint16_t __be16; typedef uint32_t __u32;\
 typedef uint64_t u64; typedef int8_t s8; typedef uint32_t __wsum; typedef uint16_t __sum16;\
 typedef int64_t ssize_t;";

/// Compares every struct of `decls` (size, alignment, every field's offset, bit position and
/// width) with LuaJIT's own `ffi.sizeof/alignof/offsetof`; returns how many facts agreed.
fn compare_with_luajit(decls: &str) -> usize {
    compare_parsed_with_luajit(&cdef(decls), decls)
}

fn compare_parsed_with_luajit(t: &CTypes, decls: &str) -> usize {
    let mut lines = Vec::new();
    for (name, def) in decl_types(t) {
        lines.push(format!("S|{name}|{}|{}", def.size, def.align));
        for f in def.field_names() {
            let Some(field) = def.field(&f) else { continue };
            lines.push(match field.bits {
                None => format!("F|{name}|{f}|{}", field.offset),
                Some((pos, width)) => format!("B|{name}|{f}|{}|{pos}|{width}", field.offset),
            });
        }
    }
    // SAFETY: ffi needs the unsafe standard library; the script is ours.
    let lua = unsafe { mlua::Lua::unsafe_new() };
    let script = r#"
        local ffi = require("ffi")
        ffi.cdef(prelude)
        ffi.cdef(decls)
        local bad = {}
        for _, line in ipairs(lines) do
          local p = {}
          for x in line:gmatch("[^|]+") do p[#p + 1] = x end
          local got
          if p[1] == "S" then
            got = "S|" .. p[2] .. "|" .. ffi.sizeof(p[2]) .. "|" .. ffi.alignof(p[2])
          else
            local o, bp, bs = ffi.offsetof(p[2], p[3])
            got = (bp and "B|" or "F|") .. p[2] .. "|" .. p[3] .. "|" .. tostring(o)
            if bp then got = got .. "|" .. bp .. "|" .. bs end
          end
          if got ~= line then bad[#bad + 1] = "ours: " .. line .. "  luajit: " .. got end
        end
        return table.concat(bad, "\n")
    "#;
    let globals = lua.globals();
    globals.set("prelude", LUAJIT_PRELUDE).expect("set prelude");
    globals.set("decls", decls).expect("set decls");
    globals.set("lines", lines.clone()).expect("set lines");
    let bad: String = lua
        .load(script)
        .eval()
        .unwrap_or_else(|e| panic!("lua: {e}"));
    assert!(
        bad.is_empty(),
        "layout differs from LuaJIT:\n{bad}\nin:\n{decls}"
    );
    lines.len()
}

/// The oracle for our C type model: LuaJIT's own `ffi.sizeof/alignof/offsetof` (which also
/// returns bit position and width for bitfields). The compiler itself never runs the real ffi:
/// probe files see only our model, so this test is where the two meet.
#[test]
fn layouts_match_luajit() {
    let n = compare_with_luajit(DECLS);
    println!("{n} lines agree with LuaJIT");
}

/// The same for every `ffi.cdef[[ ... ]]` block of the probe files in the repository (corpus,
/// examples, benchmarks).
#[test]
fn probe_file_layouts_match_luajit() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut blocks = 0;
    let mut compared = 0;
    // The bad inputs too, where both our model and LuaJIT accept the declarations.
    for dir in [
        "tests/corpus",
        "examples/probes",
        "bench/lua",
        "tests/names",
        "tests/bad",
    ] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        for f in files
            .iter()
            .filter(|f| f.extension().is_some_and(|x| x == "lua"))
        {
            let text = String::from_utf8_lossy(&std::fs::read(f).unwrap_or_default()).into_owned();
            let mut rest = text.as_str();
            // Each file's blocks together, in order: later blocks use earlier ones.
            let mut decls = String::new();
            while let Some(i) = rest.find("ffi.cdef[[") {
                let body = &rest[i + "ffi.cdef[[".len()..];
                let Some(end) = body.find("]]") else { break };
                decls.push_str(&body[..end]);
                decls.push('\n');
                blocks += 1;
                rest = &body[end..];
            }
            let mut ours = CTypes::new();
            if decls.is_empty() || ours.cdef(&decls).is_err() || !luajit_accepts(&decls) {
                continue;
            }
            compare_parsed_with_luajit(&ours, &decls);
            compared += 1;
        }
    }
    assert!(
        blocks >= 20 && compared >= 10,
        "only {blocks} ffi.cdef blocks found, {compared} files compared"
    );
    println!("{blocks} blocks, {compared} files agree with LuaJIT");
}

fn luajit_accepts(decls: &str) -> bool {
    // SAFETY: ffi needs the unsafe standard library; the script is ours.
    let lua = unsafe { mlua::Lua::unsafe_new() };
    lua.globals().set("decls", decls).expect("set decls");
    lua.globals()
        .set("prelude", LUAJIT_PRELUDE)
        .expect("set prelude");
    lua.load("local ffi = require('ffi') ffi.cdef(prelude) return (pcall(ffi.cdef, decls))")
        .eval::<bool>()
        .unwrap_or(false)
}

fn which(prog: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(prog))
        .find(|p| p.is_file())
}
