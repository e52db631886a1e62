//! Random probe programs for differential testing (LuaJIT vs the kernel) and probe files for
//! robustness fuzzing, all deterministic from a seed.
//!
//! # Differential testing
//!
//! [`Program::generate`] builds a random packet-program body in the supported subset: locals,
//! integer arithmetic on numbers and on int64/uint64 cdata (wrap-around), `/` and `%` (also by
//! zero), `bit.*` and the native bit operators, comparisons, nested `if`/`elseif`/`else`,
//! `and`/`or` as values, `not`, reads and writes of two array maps, the everyday shapes of
//! [`Shape`]: locals assigned on some paths (nil or a value, also returned), `or` defaults
//! (`x or d`, `m[k] or d`, `c or nil`), a uint64 map value summed into a number, a boolean or a
//! number, upvalue and table-field strings compared with packet slices (some crossing the
//! packet's end), slice == slice, dissectors moved before the start or past the end, loops
//! bounded by `%` of a packet byte, `lpm_trie` lookups and updates; and stack arrays and arrays of records at
//! run-time indexes (in and out of range) and packet slices with run-time bounds
//! (`indexes.rs`, whose reference helpers implement `docs/indexes.md`'s rules where LuaJIT
//! leaves out-of-range indexes undefined and has no packet). Its inputs come from the
//! packet:
//!
//! | name | Lua type     | read in the probe as                            |
//! |------|--------------|-------------------------------------------------|
//! | `a`  | number       | `ntoh(pkt.ip.src) - 0x80000000` (signed 32-bit) |
//! | `b`  | number       | `ntoh(pkt.ip.dst) - 0x80000000` (signed 32-bit) |
//! | `c`  | number       | `ntoh(pkt.ip.tcp.seq_num)` (unsigned 32-bit)    |
//! | `d`  | number       | `pkt.ip.ttl` (8-bit)                            |
//! | `x`  | uint64 cdata | `ntoh(pkt.ip6.dst_lo)` (a 64-bit field)         |
//! | `i`  | int64 cdata  | `a * 0x100000000LL + c`                         |
//! | `j`  | int64 cdata  | `b * 1LL`                                       |
//!
//! and from the maps `m` (`uint64_t[8]`) and `w` (`uint32_t[8]`), which the test sets before each
//! run. Outputs are the return value (its low 32 bits, as the kernel reports it), one `out` slot
//! (`uint64_t`) per output statement, and the contents of `m` and `w` after the run.
//!
//! In the kernel, program `n` of a run is a socket filter (`LD_ABS` loads), an XDP program or a
//! tc program (direct packet access with bounds checks) as `n % 3` says ([`Hook`]): the same
//! body must give LuaJIT's results through both ways of reading the packet. The interpreter
//! runs socket filters.
//!
//! The reference runs the same text in LuaJIT (the vendored one the compiler uses, JIT off), with
//! `m`/`w` as ffi arrays behind a proxy that gives `nil` for absent keys. The only rewriting is
//! DESIGN.md's documented deviations: `p / q` becomes `idiv(p, q)` (numbers truncate toward
//! zero; `x / 0` is 0) and `p % q` becomes `imod(p, q)` (`x % 0` is `x`; otherwise LuaJIT's own
//! `%`: floored for numbers, C's remainder for int64, unsigned for uint64); `math.log2(p)`
//! becomes `ilog2(p)` (the probe language's integer logarithm of `p` read as unsigned).
//!
//! Numbers are doubles in LuaJIT and 64-bit integers in the probe; they agree while exact. The
//! generator bounds every number-valued subexpression by [`NUM_MAX`] = 2^51 (so that LuaJIT's
//! `%` (`a - floor(a/b)*b`) and its bit-op conversion (`tobit`) are exact too) and the reference
//! checks that no result is a fraction or beyond 2^53.
//!
//! # Robustness fuzzing
//!
//! [`fuzz_source`] makes a probe file: a generated valid one, a broken declaration, odd types,
//! a huge function, or a byte-level mutation of a corpus file. [`fuzz_one`] compiles it and, when
//! it compiles, loads it into the verifier.

mod batch;
mod bounds;
mod fuzz;
mod generate;
mod indexes;
mod interp;
mod kernel;
mod program;
mod reference;
mod shapes;
mod shrink;

pub use batch::*;
pub use bounds::*;
pub use fuzz::*;
pub use indexes::*;
pub use interp::*;
pub use kernel::*;
pub use program::*;
pub use reference::*;
pub use shapes::*;
pub use shrink::*;
