//! Common loads reused (before register allocation): a packet or context field loaded again,
//! while a register still holds on every path what the first load read, becomes a copy of that
//! register; when a register also holds the first load's conversions (`be32`, masks, shifts)
//! and they are the same, the conversions go too.
//!
//! A *chain* is a load — `r0 = *(uN *)skb[..]` (LD_ABS/LD_IND) followed by `v = r0`, or
//! `v = *(uN *)(r6 + off)` from the context — and the run of in-place operations with constant
//! operands on `v` right after it, with no jump landing inside. When another chain makes the
//! same load, the chain keeps what it read in a register of its own (`t = r0; v = t`), which
//! the allocator merges with `v` where nothing reads `t` later. Two chains make the same load
//! if nothing in between changed the packet, the context, the load's offset register (or the
//! register it is a copy of), or the register holding the first result. A helper call ends
//! what is known when the helper table says it may change the packet or the context
//! (`Effect`); a store may write a context field and ends what is known of the context.

use ljbpf_core::helper::Effect;
use ljbpf_core::insn::{AluOp, Insn, Reg, Size, Src};

use super::code::{uses_defs, Rec, Reloc, VCode, VReg, R};
use super::liveness::physical_live_out;

/// A chain found in the code.
struct Chain {
    /// Its first instruction.
    start: usize,
    /// Where its operations start.
    ops: usize,
    /// One past its last.
    end: usize,
    /// The register holding its value.
    reg: VReg,
    /// What it loads: the load (its offset register the one that register is a copy of, its
    /// result register anonymous) with its relocation.
    key: (Insn<R>, Option<Reloc>),
    /// The operations after the load, their register anonymous.
    ops_key: Vec<Insn<R>>,
    /// Whether it reads the packet (else the context).
    packet: bool,
    /// The load's offset register (the one it is a copy of), if any.
    base: Option<VReg>,
    /// The load's width.
    size: Size,
}

/// For every instruction, the register each virtual register is a copy of on every path that
/// reaches it, as `(copy, original)` pairs: `v2 = v14` on every way into a join makes `v2` the
/// offset register `v14` again, so loads through either are the same load.
fn copies(code: &VCode) -> Vec<Option<Vec<(VReg, VReg)>>> {
    code.must_forward(|i, set: &mut Vec<(VReg, VReg)>| {
        let insn = &code.insns[i].insn;
        let original = match *insn {
            Insn::Alu64 {
                op: AluOp::Mov,
                dst: R::V(d),
                src: Src::Reg(R::V(s)),
            } if d != s => Some(set.iter().find(|p| p.0 == s).map_or(s, |p| p.1)),
            _ => None,
        };
        for d in uses_defs(insn).1 {
            if let R::V(d) = d {
                set.retain(|&(c, o)| c != d && o != d);
            }
        }
        if let (Some(o), Insn::Alu64 { dst: R::V(d), .. }) = (original, insn) {
            if o != *d {
                set.push((*d, o));
            }
        }
    })
}

fn chains(code: &VCode) -> Vec<Chain> {
    let n = code.insns.len();
    let copies = copies(code);
    let landed = code.landed();
    let phys_out = physical_live_out(code);
    let mut out = Vec::new();
    let mut i = 0;
    while i < n {
        let rec = &code.insns[i];
        let head = match (rec.insn, code.insns.get(i + 1).map(|r| r.insn)) {
            (
                Insn::LdAbs { size, .. } | Insn::LdInd { size, .. },
                Some(Insn::Alu64 {
                    op: AluOp::Mov,
                    dst: R::V(v),
                    src: Src::Reg(R::P(Reg::R0)),
                }),
            ) if !landed[i + 1] && phys_out[i + 1] & 1 == 0 => {
                // The offset register as the register it is a copy of, if it is one.
                let base = match rec.insn {
                    Insn::LdInd { src: R::V(b), .. } => Some(
                        copies[i]
                            .iter()
                            .flatten()
                            .find(|p| p.0 == b)
                            .map_or(b, |p| p.1),
                    ),
                    _ => None,
                };
                Some((v, i + 2, true, base, size))
            }
            (
                Insn::Ldx {
                    size,
                    dst: R::V(v),
                    src: R::P(Reg::R6),
                    ..
                },
                _,
            ) => Some((v, i + 1, false, None, size)),
            _ => None,
        };
        let Some((reg, ops, packet, base, size)) = head else {
            i += 1;
            continue;
        };
        if base == Some(reg) {
            i += 1;
            continue;
        }
        let mut end = ops;
        while end < n && !landed[end] && code.insns[end].reloc.is_none() {
            let in_place = match code.insns[end].insn {
                Insn::ToBe { dst, .. } | Insn::Sext32 { dst } => dst == R::V(reg),
                Insn::Alu64 {
                    op,
                    dst,
                    src: Src::Imm(_),
                }
                | Insn::Alu32 {
                    op,
                    dst,
                    src: Src::Imm(_),
                } => dst == R::V(reg) && op != AluOp::Mov,
                _ => false,
            };
            if !in_place {
                break;
            }
            end += 1;
        }
        // The result register differs between chains: it is not part of what they compute.
        let anon = |insn: &Insn<R>| {
            insn.map_regs(|r| {
                if r == R::V(reg) {
                    R::V(VReg(u32::MAX))
                } else {
                    r
                }
            })
        };
        let load = match (rec.insn, base) {
            (Insn::LdInd { size, imm, .. }, Some(b)) => Insn::LdInd {
                size,
                src: R::V(b),
                imm,
            },
            (insn, _) => anon(&insn),
        };
        out.push(Chain {
            start: i,
            ops,
            end,
            reg,
            key: (load, rec.reloc.clone()),
            ops_key: code.insns[ops..end].iter().map(|r| anon(&r.insn)).collect(),
            packet,
            base,
            size,
        });
        i = end;
    }
    out
}

/// Runs the pass in place.
pub fn run(code: &mut VCode) {
    let n = code.insns.len();
    let chains = chains(code);
    let m = chains.len();
    if m < 2 {
        return;
    }
    let landed = code.landed();
    // Classes of chains: `c` for the chains that make the load of chain `c`, the first that
    // does; `m + c` for those that also convert it as `c` does.
    let loads: Vec<usize> = chains
        .iter()
        .map(|ch| chains.iter().position(|o| o.key == ch.key).unwrap_or(0))
        .collect();
    let fulls: Vec<usize> = chains
        .iter()
        .map(|ch| {
            let c = chains
                .iter()
                .position(|o| o.key == ch.key && o.ops_key == ch.ops_key);
            m + c.unwrap_or(0)
        })
        .collect();
    // The register that holds what each chain read: `v` itself when nothing follows the load,
    // else a new one when another chain makes the same load.
    let raw: Vec<Option<VReg>> = (0..m)
        .map(|c| {
            let ch = &chains[c];
            if ch.ops == ch.end {
                Some(ch.reg)
            } else if loads.iter().filter(|&&k| k == loads[c]).count() > 1 {
                Some(code.vreg())
            } else {
                None
            }
        })
        .collect();
    // The holders each instruction makes: what a chain read, after the `v = r0` or the context
    // load; what it computed, after its last operation.
    let mut makes: Vec<Vec<(usize, VReg)>> = vec![Vec::new(); n];
    for (c, ch) in chains.iter().enumerate() {
        if let Some(t) = raw[c] {
            makes[ch.ops - 1].push((loads[c], t));
        }
        if ch.ops < ch.end {
            makes[ch.end - 1].push((fulls[c], ch.reg));
        }
    }
    // Forward must-analysis: on entry to each instruction, the values registers hold, as
    // (class, register).
    let avail = code.must_forward(|i, set: &mut Vec<(usize, VReg)>| {
        let insn = &code.insns[i].insn;
        let defs = uses_defs(insn).1;
        set.retain(|&(class, v)| {
            let ch = &chains[class % m];
            let killed_reg = defs
                .iter()
                .any(|d| *d == R::V(v) || Some(*d) == ch.base.map(R::V));
            let killed_mem = match insn {
                Insn::Call { helper } => helper.effect() == Effect::Changes,
                Insn::St { .. } | Insn::Stx { .. } | Insn::AtomicAdd { .. } => !ch.packet,
                _ => false,
            };
            !killed_reg && !killed_mem
        });
        // Every register that holds a value stays a holder: where paths meet, the one they all
        // have (the first, when the later chains became copies of it) is kept.
        for held in &makes[i] {
            if !set.contains(held) {
                set.push(*held);
            }
        }
    });
    let mut edits: Vec<(usize, Vec<Rec<R>>)> = Vec::new();
    for (c, ch) in chains.iter().enumerate() {
        let line = code.insns[ch.start].line;
        let mov = |dst: VReg, src: VReg| {
            Rec::new(
                Insn::Alu64 {
                    op: AluOp::Mov,
                    dst: R::V(dst),
                    src: Src::Reg(R::V(src)),
                },
                line,
            )
        };
        let holder = |class: usize| {
            avail[ch.start]
                .iter()
                .flatten()
                .find(|&&(k, _)| k == class)
                .map(|&(_, v)| v)
        };
        let (read, computed) = (holder(loads[c]), holder(fulls[c]));
        let Some(t) = raw[c].filter(|&t| t != ch.reg) else {
            // No operations (or no other chain with the load): `v = <holder>`.
            if let (Some(h), Some(_)) = (read, raw[c]) {
                let with = if h == ch.reg {
                    vec![]
                } else {
                    vec![mov(ch.reg, h)]
                };
                edits.push((ch.start, with));
                edits.extend((ch.start + 1..ch.ops).map(|i| (i, Vec::new())));
            }
            continue;
        };
        // `t = <load>` (or a copy of what holds it), then `v = t` and the operations, or a copy
        // of what holds their result.
        let mut with = match read {
            Some(h) if h == t => vec![],
            Some(h) => vec![mov(t, h)],
            None => {
                let mut load = code.insns[ch.start..ch.ops].to_vec();
                let last = load.last_mut().expect("a chain has its load");
                match &mut last.insn {
                    Insn::Alu64 { dst, .. } | Insn::Ldx { dst, .. } => *dst = R::V(t),
                    _ => unreachable!("a chain's value arrives by a move or a context load"),
                }
                load
            }
        };
        let reused = read.is_some() && computed.is_some();
        with.push(mov(ch.reg, computed.filter(|_| reused).unwrap_or(t)));
        edits.push((ch.start, with));
        let gone = if reused { ch.end } else { ch.ops };
        edits.extend((ch.start + 1..gone).map(|i| (i, Vec::new())));
        // `v = beN v; w = v; w = beN w` of an N-bit load is the load itself: `w = t`. (The
        // swaps put a packet field in network order and `ntoh` swaps it back.)
        let swapped_back = match (
            &code.insns[ch.ops..ch.end],
            code.insns.get(ch.end).map(|r| r.insn),
            code.insns.get(ch.end + 1).map(|r| r.insn),
        ) {
            (
                [Rec {
                    insn: Insn::ToBe { bits, .. },
                    ..
                }],
                Some(Insn::Alu64 {
                    op: AluOp::Mov,
                    dst: R::V(w),
                    src: Src::Reg(v),
                }),
                Some(Insn::ToBe { dst, bits: back }),
            ) if v == R::V(ch.reg)
                && dst == R::V(w)
                && *bits == back
                && u32::from(back) == ch.size.bytes() * 8
                && !landed[ch.end]
                && !landed[ch.end + 1] =>
            {
                Some(w)
            }
            _ => None,
        };
        if let Some(w) = swapped_back {
            edits.push((ch.end, vec![mov(w, t)]));
            edits.push((ch.end + 1, Vec::new()));
        }
    }
    code.splice(edits);
}

#[cfg(test)]
mod tests {
    use ljbpf_core::helper::Helper;
    use ljbpf_core::insn::JmpOp;

    use super::*;

    fn mov(dst: R, src: R) -> Insn<R> {
        Insn::Alu64 {
            op: AluOp::Mov,
            dst,
            src: Src::Reg(src),
        }
    }

    fn swap(dst: R) -> Insn<R> {
        Insn::ToBe { dst, bits: 16 }
    }

    const R0: R = R::P(Reg::R0);

    /// `ntoh(field) == 0x800` (the field at `v5 + 10`), a map lookup, then the field read again
    /// into `v2`, and a third time into `v3` through `v4`, a copy of the offset register `v5`.
    fn field_twice() -> VCode {
        let mut c = VCode::default();
        let [v0, v1, v2, v3, v4, v5] = [(); 6].map(|_| R::V(c.vreg()));
        let out = c.label();
        let load = |base| Insn::LdInd {
            size: Size::H,
            src: base,
            imm: 10,
        };
        c.push(mov(R::P(Reg::R6), R::P(Reg::R1)), 1);
        c.push(
            Insn::Alu64 {
                op: AluOp::Mov,
                dst: v5,
                src: Src::Imm(2),
            },
            1,
        );
        for insn in [load(v5), mov(v0, R0), swap(v0), mov(v1, v0), swap(v1)] {
            c.push(insn, 2);
        }
        c.push(
            Insn::Jmp {
                op: JmpOp::Jne,
                dst: v1,
                src: Src::Imm(0x800),
                target: out,
            },
            2,
        );
        c.push(
            Insn::Call {
                helper: Helper::MapLookupElem,
            },
            3,
        );
        for insn in [load(v5), mov(v2, R0), swap(v2)] {
            c.push(insn, 4);
        }
        c.push(mov(v4, v5), 5);
        for insn in [load(v4), mov(v3, R0), mov(R0, v2), mov(R0, v3), Insn::Exit] {
            c.push(insn, 5);
        }
        c.bind(out);
        c.push(mov(R0, v1), 6);
        c.push(Insn::Exit, 6);
        c
    }

    #[test]
    fn a_field_loaded_again_after_a_map_call_is_a_copy() {
        let mut c = field_twice();
        run(&mut c);
        let loads = c
            .insns
            .iter()
            .filter(|r| matches!(r.insn, Insn::LdAbs { .. } | Insn::LdInd { .. }))
            .count();
        assert_eq!(loads, 1, "{}", c.listing(&[]));
        let t = R::V(VReg(6));
        let insns: Vec<Insn<R>> = c.insns.iter().map(|r| r.insn).collect();
        // `ntoh` of the swapped field is what was loaded.
        assert!(insns.contains(&mov(R::V(VReg(1)), t)), "{}", c.listing(&[]));
        // The second read converted the same way is the first one's result.
        assert!(insns.contains(&mov(R::V(VReg(2)), R::V(VReg(0)))));
        // Through a copy of its offset register, the third read too.
        assert!(insns.contains(&mov(R::V(VReg(3)), t)), "{}", c.listing(&[]));
    }
}
