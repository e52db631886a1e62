//! Run-time indexes and run-time packet slices (`docs/indexes.md`).
//!
//! `a[i]` with `i` known only at run time names a place ([`Base::Elem`]) that exists only while
//! `i` is in range. LuaJIT does not check cdata array bounds (out of range is undefined
//! behaviour there), and the verifier refuses any access it cannot bound, so every access
//! through such a place checks the index first, as an unsigned 64-bit compare against the
//! element count (a negative index is a huge unsigned one): in range, the verifier sees the
//! index bounded by the compare and the address `base + i * stride` inside the object; out of
//! range, a read gives 0 and a write (or `xadd`) does nothing.
//!
//! `d(a, b)` with a run-time bound is a [`Val::RtSlice`]: compared with a string, it checks
//! once that `0 <= a < b <= length` (the skb's `len`, or `data_end - data` with direct packet
//! access; else the program ends with its kind's pass verdict, the packet-edge rule of every
//! packet read), then its length, then the bytes.

use super::*;

/// The longest string a packet slice with run-time bounds compares with (as for constant
/// bounds): longer slices compare unequal to every string.
pub const MAX_RT_SLICE: usize = 64;

impl Lowerer<'_> {
    /// `elem[len]` at `base + off`, indexed by the run-time operand `i`.
    pub(super) fn element_at(
        &mut self,
        base: Base,
        off: i32,
        arr: &CType,
        i: Opnd,
    ) -> LResult<Val> {
        let CType::Array(elem, len) = arr else {
            return Err(self.err(format!(
                "internal error: run-time index into {}",
                arr.c_name()
            )));
        };
        if i.ty == Ty::Bool {
            return Err(self.err(format!("attempt to index {} with a boolean", arr.c_name())));
        }
        if *len == 0 {
            return Err(self
                .err(format!(
                    "{} has no known length, so a run-time index cannot be checked",
                    arr.c_name()
                ))
                .hint("declare the array with its length, or index it with a constant"));
        }
        if *base.root() == Base::Ctx {
            return Err(self
                .err(format!(
                    "a context field ({}) can only be indexed by a constant: the verifier refuses context reads at run-time offsets",
                    arr.c_name()
                ))
                .hint("copy it first: `local buf = ffi.new('...'); ffi.copy(buf, ctx.field)`, then index `buf[i]`"));
        }
        let stride = elem.size();
        if stride == 0 || u64::from(stride) * u64::from(*len) > i32::MAX as u64 {
            return Err(self.err(format!("cannot index {} at run time", arr.c_name())));
        }
        // A copy: the slot `i` came from may be assigned before the element is used.
        let idx = self.tmp();
        self.put_reg(i, idx);
        Ok(Val::Ref {
            base: Base::Elem(Box::new(Elem {
                of: base,
                at: off,
                idx,
                len: *len,
                stride,
            })),
            off: 0,
            ty: (**elem).clone(),
        })
    }

    /// Where `base + off` is: a register and an offset for a load or store. For an element at a
    /// run-time index, first checks the index (jumping to `oob` when out of range) and computes
    /// the element's address.
    pub(super) fn place(&mut self, base: &Base, off: i32, oob: Option<Label>) -> LResult<(R, i32)> {
        match base {
            Base::Ctx => Ok((R::P(Reg::R6), off)),
            Base::Stack(o) => Ok((R::P(Reg::R10), off - o)),
            Base::Map(v) => Ok((R::V(*v), off)),
            Base::Checked(p) => {
                let Some(oob) = oob else {
                    return Err(self.err("internal error: unchecked run-time index"));
                };
                self.e(Insn::Jmp {
                    op: JmpOp::Jeq,
                    dst: R::V(*p),
                    src: Src::Imm(0),
                    target: oob,
                });
                Ok((R::V(*p), off))
            }
            Base::Elem(e) => {
                let Some(oob) = oob else {
                    return Err(self.err("internal error: unchecked run-time index"));
                };
                let (r, o) = self.place(&e.of, e.at, Some(oob))?;
                let t = self.tmp();
                self.mov(t, e.idx);
                // Unsigned and 64-bit: a negative index is out of range too, and the verifier
                // learns 0 <= t < len on the fall-through path.
                self.e(Insn::Jmp {
                    op: JmpOp::Jge,
                    dst: R::V(t),
                    src: Src::Imm(e.len as i32),
                    target: oob,
                });
                if e.stride.is_power_of_two() {
                    if e.stride > 1 {
                        self.alu(AluOp::Lsh, t, Src::Imm(e.stride.trailing_zeros() as i32));
                    }
                } else {
                    self.alu(AluOp::Mul, t, Src::Imm(e.stride as i32));
                }
                self.e(Insn::Alu64 {
                    op: AluOp::Add,
                    dst: R::V(t),
                    src: Src::Reg(r),
                });
                Ok((R::V(t), o + off))
            }
        }
    }

    /// The address of an element at a run-time index, or 0 when the index is out of range: how
    /// the element crosses a join ([`Base::Checked`]).
    pub(super) fn checked_address(&mut self, base: &Base) -> LResult<VReg> {
        let oob = self.code.label();
        let done = self.code.label();
        let (r, o) = self.place(base, 0, Some(oob))?;
        let t = self.tmp();
        self.e(Insn::Alu64 {
            op: AluOp::Mov,
            dst: R::V(t),
            src: Src::Reg(r),
        });
        if o != 0 {
            self.alu(AluOp::Add, t, Src::Imm(o));
        }
        self.e(Insn::Ja { target: done });
        self.code.bind(oob);
        self.mov_imm(t, 0);
        self.code.bind(done);
        Ok(t)
    }

    /// `xadd(place, inc)` for an element of a map value at a run-time index.
    pub(super) fn xadd_elem(
        &mut self,
        base: Base,
        off: i32,
        ty: &CType,
        inc: Opnd,
    ) -> LResult<Val> {
        let size = match ty.size() {
            4 if scalar_ty(ty).is_some() => Size::W,
            8 if scalar_ty(ty).is_some() => Size::DW,
            _ => {
                return Err(self.err(format!(
                    "xadd works on 4- and 8-byte integers, not {}",
                    ty.c_name()
                )))
            }
        };
        let r = self.reg_of(inc);
        let skip = self.code.label();
        let (dst, off) = self.place(&base, off, Some(skip))?;
        let off = i16::try_from(off).map_err(|_| self.err("offset too large"))?;
        self.e(Insn::AtomicAdd {
            size,
            dst,
            src: R::V(r),
            off,
        });
        self.code.bind(skip);
        Ok(Val::K(Const::Nil))
    }

    /// `d(a, b)` where `a` or `b` is known only at run time.
    pub(super) fn rt_slice(
        &mut self,
        off: i32,
        dynoff: Option<VReg>,
        a: Val,
        b: Val,
    ) -> LResult<Val> {
        let mut ends = Vec::new();
        for v in [a, b] {
            let o = self.operand(v)?;
            if o.ty == Ty::Bool {
                return Err(self.err("a packet slice d(a, b) needs numbers, not booleans"));
            }
            let t = self.tmp();
            self.put_reg(o, t);
            if let Some(d) = dynoff {
                self.alu(AluOp::Add, t, Src::Reg(d));
            }
            ends.push(t);
        }
        Ok(Val::RtSlice {
            off,
            start: ends[0],
            end: ends[1],
        })
    }

    /// Compares a packet slice with run-time bounds with the string `s`.
    pub(super) fn equal_rt_slice(
        &mut self,
        off: i32,
        start: VReg,
        end: VReg,
        s: &[u8],
    ) -> LResult<Cond> {
        if s.len() > MAX_RT_SLICE {
            return Err(self.err(format!(
                "a packet slice compares with strings of at most {MAX_RT_SLICE} bytes, not {}",
                s.len()
            )));
        }
        // Absolute bounds, then the packet-edge rule: outside the packet, the program ends.
        let lo = self.tmp();
        self.mov(lo, start);
        let hi = self.tmp();
        self.mov(hi, end);
        if off != 0 {
            self.alu(AluOp::Add, lo, Src::Imm(off));
            self.alu(AluOp::Add, hi, Src::Imm(off));
        }
        let outside = self.code.label();
        let inside = self.code.label();
        self.e(Insn::Jmp {
            op: JmpOp::Jslt,
            dst: R::V(lo),
            src: Src::Imm(0),
            target: outside,
        });
        self.e(Insn::Jmp {
            op: JmpOp::Jsle,
            dst: R::V(hi),
            src: Src::Reg(R::V(lo)),
            target: outside,
        });
        // The packet's length: `skb->len` where packets are read with LD_ABS, else what lies
        // between the context's `data` and `data_end` (XDP, tc, cgroup skb).
        let n;
        if self.packet_direct() {
            let Some((data_at, end_at)) = self.context().data_pointers() else {
                return Err(
                    self.err("internal error: direct packet access without packet pointers")
                );
            };
            let data;
            (data, n) = self.load_packet_pointers(data_at, end_at);
            self.alu(AluOp::Sub, n, Src::Reg(data));
        } else {
            n = self.tmp();
            let Some(len_field) = Context::Skb.field(Arch::X86_64, "len") else {
                return Err(self.err("internal error: no skb len field"));
            };
            self.e_ctx(
                Insn::Ldx {
                    size: Size::W,
                    dst: R::V(n),
                    src: R::P(Reg::R6),
                    off: len_field.offset as i16,
                },
                len_field.offset as i32,
            );
        }
        self.e(Insn::Jmp {
            op: JmpOp::Jsle,
            dst: R::V(hi),
            src: Src::Reg(R::V(n)),
            target: inside,
        });
        // Outside the packet the program ends with its kind's verdict (0 for socket filters).
        self.code.bind(outside);
        let verdict = self.env.kind.class().default_return();
        self.mov_imm_r(R::P(Reg::R0), i64::from(verdict));
        self.e(Insn::Exit);
        self.code.bind(inside);
        // Inside the packet: equal when the lengths and then the bytes are.
        let (t, done) = self.all_of();
        self.alu(AluOp::Sub, hi, Src::Reg(lo));
        self.e(Insn::Jmp {
            op: JmpOp::Jne,
            dst: R::V(hi),
            src: Src::Imm(s.len() as i32),
            target: done,
        });
        let mut i = 0usize;
        while i < s.len() {
            let w = [4usize, 2, 1]
                .into_iter()
                .find(|w| i + w <= s.len())
                .unwrap_or(1);
            let c = self.pkt_load(i as i32, w as u32, Some(lo))?;
            self.jump_unless_bytes(c, &s[i..i + w], done);
            i += w;
        }
        Ok(self.all_of_end(t, done))
    }
}
