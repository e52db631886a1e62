//! Packet dissectors: loads (LD_ABS/LD_IND, or direct loads in `direct.rs`), moving
//! dissectors, headers and fields.

use super::*;

/// How far below (or above) a known-small run-time offset a constant may move a dissector and still be
/// read without a check: the kernel's windows start at -2^20 (`SKF_NET_OFF`), and a safe
/// offset is below 2^16 (a header length from a packet byte).
const SAFE_NEGATIVE: i32 = 1 << 19;

impl<'a> Lowerer<'a> {
    /// Loads `size` bytes of packet at `off` (+ `dynoff`) in network byte order into a register.
    pub(super) fn pkt_load(&mut self, off: i32, size: u32, dynoff: Option<VReg>) -> LResult<VReg> {
        if self.packet_direct() {
            // Memory order is network order already; loads of at most 4 bytes zero-extend, so
            // the verifier knows the value's bounds, and `%`/`/` may keep them (arith.rs).
            let t = self.packet_read(off, size, dynoff)?;
            if size <= 4 {
                self.ranges.insert(t, (1u64 << (8 * size)) - 1);
            }
            return Ok(t);
        }
        let sz = Size::from_bytes(size).ok_or_else(|| self.err("unsupported packet field size"))?;
        if size == 8 {
            let hi = self.pkt_load(off, 4, dynoff)?;
            let lo = self.pkt_load(off + 4, 4, dynoff)?;
            // Memory order as a little-endian integer: bytes off..off+3 are the low half.
            self.alu(AluOp::Lsh, lo, Src::Imm(32));
            self.alu(AluOp::Or, lo, Src::Reg(hi));
            self.ranges.remove(&lo);
            return Ok(lo);
        }
        let t = self.ld_packet(sz, off, dynoff)?;
        if size > 1 {
            // LD_ABS converts to host order; the dissector reads network order (use ntoh).
            self.e(Insn::ToBe {
                dst: R::V(t),
                bits: (size * 8) as u8,
            });
        }
        // The verifier does not bound LD_ABS results: say how wide the value is, so that loops
        // bounded by packet fields verify.
        match size {
            4 => self.alu32(AluOp::Mov, t, Src::Reg(t)),
            _ => self.alu(AluOp::And, t, Src::Imm(((1i64 << (8 * size)) - 1) as i32)),
        }
        self.ranges.insert(t, (1u64 << (8 * size)) - 1);
        Ok(t)
    }

    /// A dissector moved by a number of bytes, constant or run-time.
    pub(super) fn pkt_add(&mut self, x: Val, y: Val) -> LResult<Val> {
        let (pkt, n) = match (x, y) {
            (p @ Val::Pkt { .. }, n) | (n, p @ Val::Pkt { .. }) => (p, n),
            _ => return Err(self.err("internal error: pkt_add without a dissector")),
        };
        let Val::Pkt { hdr, off, dynoff } = pkt else {
            return Err(self.err("internal error: pkt_add without a dissector"));
        };
        let n = self.operand(n)?;
        if n.ty == Ty::Bool {
            return Err(self.err("cannot move a dissector by a boolean"));
        }
        match n.k {
            Some(k) => {
                // Far outside any packet, a read fails all the same: 2^30 bytes either way
                // stands for any farther offset.
                let far = 1i64 << 30;
                let off = (i64::from(off) + k).clamp(-far, far) as i32;
                Ok(Val::Pkt { hdr, off, dynoff })
            }
            None => {
                // Small and non-negative plus small and non-negative stays safe to load through.
                let small = |l: &Self, r: VReg| l.ranges.get(&r).is_some_and(|m| *m <= 0xffff);
                let safe = n.v.is_some_and(|r| small(self, r))
                    && dynoff.is_none_or(|d| self.safe_offsets.contains(&d));
                let t = self.tmp();
                self.put_reg(n, t);
                if let Some(d) = dynoff {
                    self.alu(AluOp::Add, t, Src::Reg(d));
                }
                if safe {
                    self.safe_offsets.insert(t);
                }
                Ok(Val::Pkt {
                    hdr,
                    off,
                    dynoff: Some(t),
                })
            }
        }
    }

    /// `r0 = packet[dynoff + off]` (LD_ABS/LD_IND, host order), copied into a new register;
    /// with direct access, the same value from a direct load and a byte swap.
    ///
    /// Without direct access, a read outside the packet ends the program with 0, before its
    /// start too (with it, see `packet_read`). The kernel reads a negative offset (as a 32-bit
    /// int) in its `SKF_NET_OFF`/`SKF_LL_OFF` windows (`bpf_internal_load_pointer_neg_helper`,
    /// net/core/filter.c), so an offset that may be negative or beyond 2^31 is replaced by
    /// `i32::MIN`, which lies below both windows: the load faults and the program ends with 0.
    pub(super) fn ld_packet(
        &mut self,
        size: Size,
        off: i32,
        dynoff: Option<VReg>,
    ) -> LResult<VReg> {
        if self.packet_direct() {
            let t = self.packet_read(off, size.bytes(), dynoff)?;
            if size.bytes() > 1 {
                self.e(Insn::ToBe {
                    dst: R::V(t),
                    bits: (size.bytes() * 8) as u8,
                });
            }
            return Ok(t);
        }
        match dynoff {
            None => self.e(Insn::LdAbs {
                size,
                imm: if off < 0 { i32::MIN } else { off },
            }),
            Some(d)
                if self.safe_offsets.contains(&d)
                    && (-SAFE_NEGATIVE..=SAFE_NEGATIVE).contains(&off) =>
            {
                self.e(Insn::LdInd {
                    size,
                    src: R::V(d),
                    imm: off,
                })
            }
            Some(d) => {
                // t = d + off; if t > 0x7fffffff (unsigned: negative too) then t = i32::MIN
                let t = self.tmp();
                self.mov(t, d);
                if off != 0 {
                    self.alu(AluOp::Add, t, Src::Imm(off));
                }
                let ok = self.code.label();
                self.e(Insn::Jmp {
                    op: JmpOp::Jle,
                    dst: R::V(t),
                    src: Src::Imm(i32::MAX),
                    target: ok,
                });
                self.alu32(AluOp::Mov, t, Src::Imm(i32::MIN));
                self.code.bind(ok);
                self.e(Insn::LdInd {
                    size,
                    src: R::V(t),
                    imm: 0,
                })
            }
        }
        let t = self.tmp();
        self.e(Insn::Alu64 {
            op: AluOp::Mov,
            dst: R::V(t),
            src: Src::Reg(R::P(Reg::R0)),
        });
        Ok(t)
    }

    pub(super) fn pkt_index(
        &mut self,
        hdr: Hdr,
        off: i32,
        dynoff: Option<VReg>,
        key: &str,
    ) -> LResult<Val> {
        if let Some(f) = hdr.field(key) {
            let v = if let Some((shift, width)) = f.bits {
                // Bit fields are defined on the big-endian container: load in host order.
                let sz = Size::from_bytes(f.size).ok_or_else(|| self.err("bad field"))?;
                let t = self.ld_packet(sz, off + f.off, dynoff)?;
                if shift > 0 {
                    self.alu(AluOp::Rsh, t, Src::Imm(i32::from(shift)));
                }
                self.alu(AluOp::And, t, Src::Imm(((1u64 << width) - 1) as i32));
                self.ranges.insert(t, (1u64 << width) - 1);
                return Ok(Val::Rt {
                    v: t,
                    ty: Ty::Num,
                    width: 0,
                });
            } else {
                self.pkt_load(off + f.off, f.size, dynoff)?
            };
            let ty = if f.size == 8 { Ty::U64 } else { Ty::Num };
            return Ok(Val::Rt {
                v,
                ty,
                width: f.size as u8,
            });
        }
        let Some((next, how)) = hdr.next(key) else {
            return Err(self.err(format!(
                "the {} header has no field or next header `{key}`",
                hdr.name()
            )));
        };
        match how {
            Next::Fixed(n) => Ok(Val::Pkt {
                hdr: next,
                off: off + n,
                dynoff,
            }),
            Next::Dyn {
                off: boff,
                shift,
                mask,
                mul,
                add,
            } => {
                let sz = Size::B;
                let t = self.ld_packet(sz, off + boff, dynoff)?;
                if shift > 0 {
                    self.alu(AluOp::Rsh, t, Src::Imm(i32::from(shift)));
                }
                self.alu(AluOp::And, t, Src::Imm(i32::from(mask)));
                self.alu(AluOp::Mul, t, Src::Imm(mul));
                if add != 0 {
                    self.alu(AluOp::Add, t, Src::Imm(add));
                }
                match dynoff {
                    Some(d) => self.alu(AluOp::Add, t, Src::Reg(d)),
                    None => {
                        self.safe_offsets.insert(t);
                    }
                }
                if dynoff.is_some_and(|d| self.safe_offsets.contains(&d)) {
                    self.safe_offsets.insert(t);
                }
                Ok(Val::Pkt {
                    hdr: next,
                    off,
                    dynoff: Some(t),
                })
            }
        }
    }
}
