//! Stack stores that change nothing go (before `dce`, over virtual registers):
//!
//! - a store whose bytes a later store overwrites on every path before anything may read them
//!   (`ffi.new('struct s', a, b)` zeroes the object and then writes its fields);
//! - a store of what the bytes already hold on every path that reaches it: the same register
//!   (or constant), the same width, the same place (the key of `m[k]` written again for the
//!   update after the lookup, which only read it).
//!
//! Stack bytes are those at a constant offset from R10. Anything else that may read memory
//! (a load or atomic add through another register, a helper call) may read any of them; a store
//! through another register or a helper that writes memory may change any of them.

use ljbpf_core::helper::ArgKind;
use ljbpf_core::insn::{Insn, Reg, Size, Src};

use super::code::{uses_defs, VCode, VReg, R};

/// The BPF stack size.
const FRAME: usize = ljbpf_core::insn::MAX_STACK as usize;

/// The frame pointer.
const FP: R = R::P(Reg::R10);

/// A set of stack bytes: bit `k` is the byte at R10 - 1 - k.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
struct Bytes([u64; FRAME / 64]);

impl Bytes {
    const ALL: Bytes = Bytes([u64::MAX; FRAME / 64]);

    /// The bytes of `*(size *)(r10 + off)`, when they are all in the frame.
    fn of(off: i16, size: Size) -> Option<Bytes> {
        let (off, len) = (i64::from(off), i64::from(size.bytes()));
        if off < -(FRAME as i64) || off + len > 0 {
            return None;
        }
        let mut b = Bytes::default();
        for a in off..off + len {
            let k = (-a - 1) as usize;
            b.0[k / 64] |= 1 << (k % 64);
        }
        Some(b)
    }

    fn union(self, o: Bytes) -> Bytes {
        Bytes(std::array::from_fn(|i| self.0[i] | o.0[i]))
    }

    fn minus(self, o: Bytes) -> Bytes {
        Bytes(std::array::from_fn(|i| self.0[i] & !o.0[i]))
    }

    fn meets(self, o: Bytes) -> bool {
        self.0.iter().zip(o.0).any(|(a, b)| a & b != 0)
    }
}

/// A stack access of an instruction: the bytes (`None`: through another register, or not all in
/// the frame), whether it reads them and whether it writes them.
fn access(insn: &Insn<R>) -> Option<(Option<Bytes>, bool, bool)> {
    let at = |base: R, off, size| {
        if base == FP {
            Bytes::of(off, size)
        } else {
            None
        }
    };
    match *insn {
        Insn::St { size, dst, off, .. } | Insn::Stx { size, dst, off, .. } => {
            Some((at(dst, off, size), false, true))
        }
        Insn::Ldx { size, src, off, .. } => Some((at(src, off, size), true, false)),
        Insn::AtomicAdd { size, dst, off, .. } => Some((at(dst, off, size), true, true)),
        _ => None,
    }
}

/// Runs the pass in place.
pub fn run(code: &mut VCode) {
    let n = code.insns.len();
    if n == 0 {
        return;
    }
    let dead = dead_stores(code);
    let same = same_stores(code);
    let keep: Vec<bool> = (0..n).map(|i| !dead[i] && !same[i]).collect();
    if keep.iter().any(|k| !k) {
        code.retain(&keep);
    }
}

/// Stores none of whose bytes is read before a later store overwrites it, on every path
/// (backward liveness of stack bytes).
fn dead_stores(code: &VCode) -> Vec<bool> {
    let n = code.insns.len();
    let succs = code.successors();
    // What may be read after each instruction, until nothing changes.
    let mut live_out = vec![Bytes::default(); n];
    let live_in = |i: usize, out: Bytes| -> Bytes {
        let insn = &code.insns[i].insn;
        match (insn, access(insn)) {
            (Insn::Exit, _) => Bytes::default(),
            (Insn::Call { .. }, _) => Bytes::ALL,
            (_, Some((None, true, _))) => Bytes::ALL,
            (_, Some((Some(b), true, _))) => out.union(b),
            (_, Some((Some(b), false, true))) => out.minus(b),
            _ => out,
        }
    };
    let mut changed = true;
    while changed {
        changed = false;
        for i in (0..n).rev() {
            let out = succs[i].iter().fold(Bytes::default(), |acc, &s| {
                acc.union(live_in(s, live_out[s]))
            });
            if out != live_out[i] {
                live_out[i] = out;
                changed = true;
            }
        }
    }
    (0..n)
        .map(|i| match access(&code.insns[i].insn) {
            Some((Some(b), false, true)) => !live_out[i].meets(b),
            _ => false,
        })
        .collect()
}

/// What a store wrote that the bytes still hold.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Held {
    off: i16,
    size: Size,
    value: Src<VReg>,
}

/// Stores of what the bytes already hold on every path (forward must-analysis).
fn same_stores(code: &VCode) -> Vec<bool> {
    let stored = |insn: &Insn<R>| match *insn {
        Insn::St {
            size,
            dst,
            off,
            imm,
            ..
        } if dst == FP => Some((off, size, Some(Src::Imm(imm)))),
        Insn::Stx {
            size,
            dst,
            off,
            src,
            ..
        } if dst == FP => {
            let value = match src {
                R::V(v) => Some(Src::Reg(v)),
                R::P(_) => None,
            };
            Some((off, size, value))
        }
        _ => None,
    };
    let already = |insn: &Insn<R>, held: &[Held]| match stored(insn) {
        Some((off, size, Some(value))) => held.contains(&Held { off, size, value }),
        _ => false,
    };
    let on_entry = code.must_forward(|i, held: &mut Vec<Held>| {
        let insn = &code.insns[i].insn;
        if already(insn, held) {
            return;
        }
        match access(insn) {
            Some((Some(b), _, true)) => {
                held.retain(|h| !Bytes::of(h.off, h.size).is_some_and(|hb| hb.meets(b)));
            }
            Some((None, _, true)) => held.clear(),
            _ => {}
        }
        if let Insn::Call { helper } = insn {
            if helper.arg_kinds().contains(&ArgKind::Writes) {
                held.clear();
            }
        }
        for d in uses_defs(insn).1 {
            if let R::V(d) = d {
                held.retain(|h| h.value != Src::Reg(d));
            }
        }
        if let Some((off, size, Some(value))) = stored(insn) {
            if Bytes::of(off, size).is_some() {
                held.push(Held { off, size, value });
            }
        }
    });
    code.insns
        .iter()
        .zip(&on_entry)
        .map(|(rec, held)| held.as_deref().is_some_and(|h| already(&rec.insn, h)))
        .collect()
}
#[cfg(test)]
mod tests {
    use ljbpf_core::helper::Helper;
    use ljbpf_core::insn::AluOp;

    use super::*;

    fn store(off: i16, size: Size, src: R) -> Insn<R> {
        Insn::Stx {
            size,
            dst: FP,
            src,
            off,
        }
    }

    fn zero(off: i16) -> Insn<R> {
        Insn::St {
            size: Size::DW,
            dst: FP,
            off,
            imm: 0,
        }
    }

    fn call(helper: Helper) -> Insn<R> {
        Insn::Call { helper }
    }

    fn after(insns: &[Insn<R>]) -> Vec<Insn<R>> {
        let mut c = VCode {
            vregs: 1,
            ..VCode::default()
        };
        for insn in insns {
            c.push(*insn, 1);
        }
        run(&mut c);
        c.insns.iter().map(|r| r.insn).collect()
    }

    const V0: R = R::V(VReg(0));

    #[test]
    fn a_store_overwritten_before_any_read_goes() {
        let get = Insn::Ldx {
            size: Size::W,
            dst: V0,
            src: FP,
            off: -8,
        };
        // Zeroes, then the fields: the zeroes go.
        let fields = [
            zero(-16),
            zero(-8),
            store(-16, Size::W, V0),
            store(-12, Size::W, V0),
            store(-8, Size::DW, V0),
            call(Helper::MapUpdateElem),
            Insn::Exit,
        ];
        assert_eq!(after(&fields), fields[2..]);
        // A read in between, by a load or a helper, keeps what it reads; so does a read of
        // half of it.
        let used = call(Helper::MapUpdateElem);
        let read = [zero(-8), get, store(-8, Size::DW, V0), used, Insn::Exit];
        assert_eq!(after(&read), read);
        let helper = [
            zero(-8),
            call(Helper::MapLookupElem),
            store(-8, Size::DW, V0),
            used,
            Insn::Exit,
        ];
        assert_eq!(after(&helper), helper);
        let half = [zero(-16), store(-16, Size::W, V0), get, used, Insn::Exit];
        assert_eq!(after(&half), half);
        // Nothing reads the stack after the program's end.
        assert_eq!(after(&[zero(-8), Insn::Exit]), [Insn::Exit]);
    }

    #[test]
    fn a_store_of_what_the_bytes_hold_goes() {
        let key = store(-8, Size::W, V0);
        let used = call(Helper::MapUpdateElem);
        let again = [key, call(Helper::MapLookupElem), key, used, Insn::Exit];
        assert_eq!(after(&again), [key, again[1], used, Insn::Exit]);
        // A helper that writes memory, a new value or a narrower store in between: it stays.
        let written = [key, call(Helper::ProbeRead), key, used, Insn::Exit];
        assert_eq!(after(&written), written);
        let redefined = Insn::Alu64 {
            op: AluOp::Add,
            dst: V0,
            src: Src::Imm(1),
        };
        let lookup = call(Helper::MapLookupElem);
        let changed = [key, lookup, redefined, key, used, Insn::Exit];
        assert_eq!(after(&changed), changed);
        let narrower = [
            key,
            lookup,
            store(-8, Size::B, V0),
            lookup,
            key,
            used,
            Insn::Exit,
        ];
        assert_eq!(after(&narrower), narrower);
    }
}
