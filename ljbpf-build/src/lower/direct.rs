//! Direct packet access (XDP, tc, cgroup skb): the dissectors of `dissect.rs` read and write
//! between the context's `data` and `data_end` pointers instead of with `LD_ABS`.
//!
//! Every access loads both pointers from the context afresh and checks `data + end of the
//! access <= data_end` right before it: the verifier only lets a program touch packet bytes
//! that such a comparison proved present (`Documentation/bpf/verifier.rst`, "Direct packet
//! access"), and reloading instead of keeping the two pointers in registers for the whole
//! program leaves R7-R9 to the probe's own values. An access outside the packet jumps to one
//! block that returns the kind's default verdict (XDP_PASS, TC_ACT_OK, 1 for cgroup skb), as
//! `LD_ABS` ends a socket filter with 0.

use super::*;

/// The largest packet offset the verifier tracks (`MAX_PACKET_OFF` in
/// include/linux/bpf_verifier.h): bounds checks only prove ranges below it.
const MAX_PACKET_OFF: i64 = 0xffff;

impl<'a> Lowerer<'a> {
    /// Whether this program reads its packet with direct loads.
    pub(super) fn packet_direct(&self) -> bool {
        self.env.kind.class().packet().direct()
    }

    /// The block that ends the program with the kind's default verdict; emitted once, after
    /// the program's last block ([`end_packet_out`](Self::end_packet_out)).
    fn packet_out(&mut self) -> Label {
        match self.pkt_out {
            Some(l) => l,
            None => {
                let l = self.code.label();
                self.pkt_out = Some(l);
                l
            }
        }
    }

    /// Emits the block of [`packet_out`](Self::packet_out) if some access jumps to it.
    pub(super) fn end_packet_out(&mut self) {
        if let Some(l) = self.pkt_out.take() {
            self.code.bind(l);
            let verdict = self.env.kind.class().default_return();
            self.mov_imm_r(R::P(Reg::R0), i64::from(verdict));
            self.e(Insn::Exit);
        }
    }

    /// The context's `data` and `data_end` pointers (at `data_at`, `end_at`), loaded afresh:
    /// the verifier forgets packet bounds at every helper call.
    pub(super) fn load_packet_pointers(&mut self, data_at: i16, end_at: i16) -> (VReg, VReg) {
        let data = self.tmp();
        let end = self.tmp();
        for (dst, off) in [(data, data_at), (end, end_at)] {
            self.e(Insn::Ldx {
                size: Size::W,
                dst: R::V(dst),
                src: R::P(Reg::R6),
                off,
            });
        }
        (data, end)
    }

    /// A register and an instruction offset that address `size` bytes at packet offset
    /// `off` (+ `dynoff`), after the bounds check; a failed check leaves the program.
    pub(super) fn packet_addr(
        &mut self,
        off: i32,
        size: u32,
        dynoff: Option<VReg>,
    ) -> LResult<(VReg, i16)> {
        let Some((data_at, end_at)) = self.context().data_pointers() else {
            return Err(self.err("internal error: direct packet access without packet pointers"));
        };
        let out = self.packet_out();
        let size = i64::from(size);
        let dynamic = match dynoff {
            None => None,
            Some(d) => {
                // One scalar offset, bounded so that the verifier lets it move a packet
                // pointer; negative offsets wrap to huge unsigned ones and fail too.
                let t = self.tmp();
                self.mov(t, d);
                if off != 0 {
                    self.alu(AluOp::Add, t, Src::Imm(off));
                }
                self.e(Insn::Jmp {
                    op: JmpOp::Jgt,
                    dst: R::V(t),
                    src: Src::Imm((MAX_PACKET_OFF - size) as i32),
                    target: out,
                });
                Some(t)
            }
        };
        if dynamic.is_none() && (off < 0 || i64::from(off) + size > MAX_PACKET_OFF) {
            // Always outside: no packet is this long (or starts before its first byte).
            self.e(Insn::Ja { target: out });
        }
        let (data, end) = self.load_packet_pointers(data_at, end_at);
        let (reach, at) = match dynamic {
            Some(t) => {
                self.alu(AluOp::Add, data, Src::Reg(t));
                (size, 0)
            }
            // Checked above: 0 <= off and off + size <= MAX_PACKET_OFF (or unreachable).
            None => (
                i64::from(off) + size,
                off.clamp(0, MAX_PACKET_OFF as i32) as i16,
            ),
        };
        let last = self.tmp();
        self.mov(last, data);
        self.alu(AluOp::Add, last, Src::Imm(reach as i32));
        self.e(Insn::Jmp {
            op: JmpOp::Jgt,
            dst: R::V(last),
            src: Src::Reg(R::V(end)),
            target: out,
        });
        Ok((data, at))
    }

    /// `size` packet bytes at `off` (+ `dynoff`) as they are in memory (network order), read
    /// directly.
    pub(super) fn packet_read(
        &mut self,
        off: i32,
        size: u32,
        dynoff: Option<VReg>,
    ) -> LResult<VReg> {
        let sz = Size::from_bytes(size).ok_or_else(|| self.err("unsupported packet field size"))?;
        let (base, at) = self.packet_addr(off, size, dynoff)?;
        let t = self.tmp();
        self.e(Insn::Ldx {
            size: sz,
            dst: R::V(t),
            src: R::V(base),
            off: at,
        });
        Ok(t)
    }

    /// Stores `val` into `size` packet bytes at `off` (+ `dynoff`), in the order a read of
    /// them gives (network order: `pkt.ip.ttl = pkt.ip.ttl - 1` writes the byte back).
    pub(super) fn packet_write(
        &mut self,
        off: i32,
        size: u32,
        dynoff: Option<VReg>,
        val: Val,
    ) -> LResult<()> {
        let class = self.env.kind.class();
        if !self.packet_direct() || class.packet() == PacketAccess::DirectL3 {
            return Err(self
                .err(format!(
                    "{} programs cannot write their packet",
                    class.name().replace('_', " ")
                ))
                .hint("XDP and tc programs can"));
        }
        let sz = Size::from_bytes(size).ok_or_else(|| self.err("unsupported packet field size"))?;
        let o = self.operand(val)?;
        if o.ty == Ty::Bool {
            return Err(self.err("cannot store a boolean into the packet"));
        }
        let src = self.reg_of(o);
        let (base, at) = self.packet_addr(off, size, dynoff)?;
        self.e(Insn::Stx {
            size: sz,
            dst: R::V(base),
            src: R::V(src),
            off: at,
        });
        Ok(())
    }
}
