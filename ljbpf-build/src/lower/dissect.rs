//! Packet dissectors: loads (LD_ABS/LD_IND, or direct loads in `direct.rs`), moving
//! dissectors, headers and fields.

use super::*;

impl<'a> Lowerer<'a> {
    /// Loads `size` bytes of packet at `off` (+ `dynoff`) in network byte order into a register.
    pub(super) fn pkt_load(&mut self, off: i32, size: u32, dynoff: Option<VReg>) -> LResult<VReg> {
        if self.packet_direct() {
            // Memory order is network order already; loads of at most 4 bytes zero-extend, so
            // the verifier knows the value's bounds.
            return self.packet_read(off, size, dynoff);
        }
        let sz = Size::from_bytes(size).ok_or_else(|| self.err("unsupported packet field size"))?;
        if size == 8 {
            let hi = self.pkt_load(off, 4, dynoff)?;
            let lo = self.pkt_load(off + 4, 4, dynoff)?;
            // Memory order as a little-endian integer: bytes off..off+3 are the low half.
            self.alu(AluOp::Lsh, lo, Src::Imm(32));
            self.alu(AluOp::Or, lo, Src::Reg(hi));
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
                let off = i32::try_from(i64::from(off) + k)
                    .map_err(|_| self.err("packet offset out of range"))?;
                Ok(Val::Pkt { hdr, off, dynoff })
            }
            None => {
                let t = self.tmp();
                self.put_reg(n, t);
                if let Some(d) = dynoff {
                    self.alu(AluOp::Add, t, Src::Reg(d));
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
            None => self.e(Insn::LdAbs { size, imm: off }),
            Some(d) => self.e(Insn::LdInd {
                size,
                src: R::V(d),
                imm: off,
            }),
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
                if let Some(d) = dynoff {
                    self.alu(AluOp::Add, t, Src::Reg(d));
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
