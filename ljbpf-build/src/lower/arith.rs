//! Arithmetic and bit operations with LuaJIT's typing, casts, integer logarithms.

use super::*;

impl<'a> Lowerer<'a> {
    /// Arithmetic with LuaJIT's typing.
    pub(super) fn arith(&mut self, op: Op, x: Opnd, y: Opnd) -> LResult<Val> {
        if x.ty == Ty::Bool || y.ty == Ty::Bool {
            return Err(self.err("attempt to perform arithmetic on a boolean value"));
        }
        let ty = Ty::arith(x.ty, y.ty);
        let kind = match op {
            Op::ADDVN | Op::ADDNV | Op::ADDVV => 0,
            Op::SUBVN | Op::SUBNV | Op::SUBVV => 1,
            Op::MULVN | Op::MULNV | Op::MULVV => 2,
            Op::DIVVN | Op::DIVNV | Op::DIVVV => 3,
            _ => 4,
        };
        if let (Some(a), Some(b)) = (x.k, y.k) {
            let r = fold(kind, a, b, ty);
            return Ok(Val::K(match ty {
                Ty::U64 => Const::UInt64(r as u64),
                Ty::I64 => Const::Int64(r),
                _ => Const::Num(r as f64),
            }));
        }
        // A number known to be in 0..=max divided by a positive constant: unsigned division
        // gives the same result, and the verifier keeps a bound on it (it loses the bound
        // through the signed form's sign fix-up), so loops bounded by `n % 8` verify.
        let known =
            x.v.filter(|_| x.k.is_none())
                .and_then(|v| self.ranges.get(&v).copied());
        if let (Some(max), Some(k), Ty::Num, 3 | 4) = (known, y.k, ty, kind) {
            if k > 0 && i32::try_from(k).is_ok() {
                return Ok(self.unsigned_div(kind, x, k, max));
            }
        }
        let t = self.tmp();
        self.put_reg(x, t);
        if kind >= 3 && y.k == Some(0) {
            // The verifier refuses a constant zero divisor; BPF's results are x / 0 = 0 and
            // x % 0 = x.
            if kind == 3 {
                self.mov_imm(t, 0);
            }
            return Ok(Val::Rt { v: t, ty, width: 0 });
        }
        let src = self.src_of(y);
        match kind {
            0 => self.alu(AluOp::Add, t, src),
            1 => self.alu(AluOp::Sub, t, src),
            2 => self.alu(AluOp::Mul, t, src),
            3 => self.alu(
                if ty == Ty::U64 {
                    AluOp::Div
                } else {
                    AluOp::SDiv
                },
                t,
                src,
            ),
            _ => {
                if ty == Ty::U64 {
                    self.alu(AluOp::Mod, t, src);
                } else if ty == Ty::I64 {
                    // int64 cdata: C's remainder, with the sign of the dividend
                    // (lj_carith_modi64), not Lua's floored modulo.
                    self.alu(AluOp::SMod, t, src);
                } else if let Some(k) =
                    y.k.filter(|&k| k > 1 && k <= 1 << 31 && k.count_ones() == 1)
                {
                    // Lua's floored modulo by a power of two keeps the low bits, in two's
                    // complement for negative numbers too (`-1 % 256 == 255`); the mask is an
                    // immediate (sign-extended from 32 bits, so at most 2^31 - 1).
                    self.alu(AluOp::And, t, Src::Imm((k - 1) as i32));
                } else {
                    // Lua's floored modulo: r = a s% b; if r != 0 and (r ^ b) < 0 then r += b.
                    self.alu(AluOp::SMod, t, src);
                    if let (Some(k), Src::Imm(imm)) = (y.k, src) {
                        // A constant divisor: the sign test needs r alone.
                        if k != 0 {
                            let done = self.code.label();
                            let op = if k > 0 { JmpOp::Jsge } else { JmpOp::Jsle };
                            self.e(Insn::Jmp {
                                op,
                                dst: R::V(t),
                                src: Src::Imm(0),
                                target: done,
                            });
                            self.alu(AluOp::Add, t, Src::Imm(imm));
                            self.code.bind(done);
                        }
                        return Ok(Val::Rt { v: t, ty, width: 0 });
                    }
                    let b = self.reg_of(y);
                    let done = self.code.label();
                    self.e(Insn::Jmp {
                        op: JmpOp::Jeq,
                        dst: R::V(t),
                        src: Src::Imm(0),
                        target: done,
                    });
                    let s = self.tmp();
                    self.mov(s, t);
                    self.alu(AluOp::Xor, s, Src::Reg(b));
                    self.e(Insn::Jmp {
                        op: JmpOp::Jsge,
                        dst: R::V(s),
                        src: Src::Imm(0),
                        target: done,
                    });
                    self.alu(AluOp::Add, t, Src::Reg(b));
                    self.code.bind(done);
                }
            }
        }
        Ok(Val::Rt { v: t, ty, width: 0 })
    }

    /// `x / k` or `x % k` (`kind` 3 or 4) for `x` in `0..=max` and a constant `k > 0`: the
    /// unsigned form, a mask for powers of two, and the result's range recorded.
    fn unsigned_div(&mut self, kind: u8, x: Opnd, k: i64, max: u64) -> Val {
        let t = self.tmp();
        self.put_reg(x, t);
        let ku = k as u64;
        let out_max = if kind == 3 {
            if ku.is_power_of_two() {
                self.alu(AluOp::Rsh, t, Src::Imm(ku.trailing_zeros() as i32));
            } else {
                self.alu(AluOp::Div, t, Src::Imm(k as i32));
                // The verifier does not bound a quotient either (see `%` below).
                if let Ok(m) = i32::try_from((max / ku + 1).next_power_of_two() - 1) {
                    self.alu(AluOp::And, t, Src::Imm(m));
                }
            }
            max / ku
        } else {
            if ku.is_power_of_two() {
                self.alu(AluOp::And, t, Src::Imm(k as i32 - 1));
            } else {
                self.alu(AluOp::Mod, t, Src::Imm(k as i32));
                // The verifier does not bound a remainder; a mask that changes nothing does.
                if let Ok(m) = i32::try_from(ku.next_power_of_two() - 1) {
                    self.alu(AluOp::And, t, Src::Imm(m));
                }
            }
            max.min(ku - 1)
        };
        self.ranges.insert(t, out_max);
        Val::Rt {
            v: t,
            ty: Ty::Num,
            width: 0,
        }
    }

    /// Bit operations with LuaJIT's rules: 32-bit on numbers (result sign-extended), 64-bit
    /// if any operand is 64-bit cdata (shift counts masked to 31 / 63).
    pub(super) fn bitop(&mut self, op: Builtin, args: &[Opnd]) -> LResult<Val> {
        if args.is_empty() {
            return Err(self.err(format!("{} needs an argument", op.name())));
        }
        if args.iter().any(|a| a.ty == Ty::Bool) {
            return Err(self.err(format!(
                "bad argument to {}: number expected, got boolean",
                op.name()
            )));
        }
        let shift = matches!(
            op,
            Builtin::BitLshift | Builtin::BitRshift | Builtin::BitArshift
        );
        let ty = if shift {
            args[0].ty
        } else {
            args.iter().fold(Ty::Num, |t, a| Ty::arith(t, a.ty))
        };
        let wide = ty != Ty::Num;
        if shift && args.len() != 2 {
            return Err(self.err(format!("{} takes two arguments", op.name())));
        }
        // Constant folding.
        if args.iter().all(|a| a.k.is_some()) {
            let ks: Vec<i64> = args.iter().filter_map(|a| a.k).collect();
            let r = fold_bit(op, &ks, wide);
            return Ok(Val::K(match ty {
                Ty::U64 => Const::UInt64(r as u64),
                Ty::I64 => Const::Int64(r),
                _ => Const::Num(r as f64),
            }));
        }
        let t = self.tmp();
        self.put_reg(args[0], t);
        let alu = |l: &mut Self, o: AluOp, src: Src<VReg>| {
            if wide {
                l.alu(o, t, src)
            } else {
                l.alu32(o, t, src)
            }
        };
        match op {
            Builtin::BitTobit => {}
            Builtin::BitBnot => alu(self, AluOp::Xor, Src::Imm(-1)),
            Builtin::BitBand | Builtin::BitBor | Builtin::BitBxor => {
                let o = match op {
                    Builtin::BitBand => AluOp::And,
                    Builtin::BitBor => AluOp::Or,
                    _ => AluOp::Xor,
                };
                for a in &args[1..] {
                    let src = self.src_of(*a);
                    alu(self, o, src);
                }
            }
            _ => {
                let o = match op {
                    Builtin::BitLshift => AluOp::Lsh,
                    Builtin::BitRshift => AluOp::Rsh,
                    _ => AluOp::Arsh,
                };
                let mask = if wide { 63 } else { 31 };
                let count = args[1];
                let src = match count.k {
                    Some(k) => Src::Imm((k & mask) as i32),
                    None => {
                        let c = self.tmp();
                        self.put_reg(count, c);
                        self.alu(AluOp::And, c, Src::Imm(mask as i32));
                        Src::Reg(c)
                    }
                };
                alu(self, o, src);
            }
        }
        if !wide {
            self.e(Insn::Sext32 { dst: R::V(t) });
            // A non-negative mask bounds the result (so `%` and `/` on it can be unsigned).
            let mask = args
                .iter()
                .filter_map(|a| a.k)
                .filter(|k| (0..=i64::from(i32::MAX)).contains(k))
                .min();
            if let (Builtin::BitBand, Some(m)) = (op, mask) {
                self.ranges.insert(t, m as u64);
            }
        }
        Ok(Val::Rt { v: t, ty, width: 0 })
    }

    /// `ffi.cast(ctype, x)` to an integer type: truncate and extend as C does.
    pub(super) fn cast(&mut self, ty: &CType, x: Opnd) -> LResult<Val> {
        if let CType::Pointer(pointee) = ty {
            if x.ty == Ty::Bool {
                return Err(self.err("cannot cast a boolean to a pointer"));
            }
            let v = self.reg_of(x);
            return Ok(Val::Ptr {
                v,
                pointee: self.env.ctypes.resolve(pointee),
            });
        }
        let CType::Int { size, signed, .. } = *ty else {
            return Err(self.err(format!(
                "ffi.cast to {} is not supported (integer and pointer types only)",
                ty.c_name()
            )));
        };
        let out_ty = match (size, signed) {
            (8, true) => Ty::I64,
            (8, false) => Ty::U64,
            _ => Ty::Num,
        };
        if let Some(k) = x.k {
            let bits = u32::from(size) * 8;
            let v = if bits == 64 {
                k
            } else if signed {
                (k << (64 - bits)) >> (64 - bits)
            } else {
                k & ((1i64 << bits) - 1)
            };
            return Ok(Val::K(match out_ty {
                Ty::I64 => Const::Int64(v),
                Ty::U64 => Const::UInt64(v as u64),
                _ => Const::Num(v as f64),
            }));
        }
        let t = self.tmp();
        self.put_reg(x, t);
        match (size, signed) {
            (8, _) => {}
            (4, false) => self.alu32(AluOp::Mov, t, Src::Reg(t)),
            (4, true) => self.e(Insn::Sext32 { dst: R::V(t) }),
            (n, false) => self.alu(
                AluOp::And,
                t,
                Src::Imm(((1i64 << (8 * u32::from(n))) - 1) as i32),
            ),
            (n, true) => {
                let sh = 64 - 8 * i32::from(n);
                self.alu(AluOp::Lsh, t, Src::Imm(sh));
                self.alu(AluOp::Arsh, t, Src::Imm(sh));
            }
        }
        Ok(Val::Rt {
            v: t,
            ty: out_ty,
            width: size,
        })
    }

    /// Integer logarithms: the largest `p` with `base^p <= x` (x read as unsigned; 0 for 0).
    pub(super) fn log(&mut self, b: Builtin, x: Opnd) -> LResult<Val> {
        if x.ty == Ty::Bool {
            return Err(self.err(format!(
                "bad argument to {}: number expected, got boolean",
                b.name()
            )));
        }
        // Thresholds base^p for p = 1, 2, ... that fit in 64 bits.
        let thresholds: Vec<u64> = match b {
            Builtin::MathLog2 => (1..64).map(|p| 1u64 << p).collect(),
            Builtin::MathLog10 => (1..20).map(|p| 10u64.pow(p)).collect(),
            _ => (1..45).map(|p| (p as f64).exp().ceil() as u64).collect(),
        };
        if let Some(k) = x.k {
            let n = thresholds.iter().take_while(|t| k as u64 >= **t).count();
            return Ok(num(n as i64));
        }
        let v = self.reg_of(x);
        let r = self.tmp();
        if b == Builtin::MathLog2 {
            self.log2(v, r);
        } else {
            self.mov_imm(r, 0);
            let done = self.code.label();
            for (p, t) in thresholds.iter().enumerate() {
                let k = rsrc(self.src_of(Opnd {
                    k: Some(*t as i64),
                    v: None,
                    ty: Ty::U64,
                    width: 0,
                }));
                self.e(Insn::Jmp {
                    op: JmpOp::Jlt,
                    dst: R::V(v),
                    src: k,
                    target: done,
                });
                self.mov_imm(r, p as i64 + 1);
            }
            self.code.bind(done);
        }
        Ok(Val::Rt {
            v: r,
            ty: Ty::Num,
            width: 0,
        })
    }

    /// `r = floor(log2(v))` for `v` read as unsigned, 0 for 0, without a branch: a binary
    /// search on the highest set bit whose every step is arithmetic. A step with a jump would
    /// double the paths the verifier walks (six steps made a histogram program 667 processed
    /// instructions instead of about 60); straight-line code is walked once.
    fn log2(&mut self, v: VReg, r: VReg) {
        let (y, t) = (self.tmp(), self.tmp());
        self.mov(y, v);
        // t = 32 if y >= 2^32 else 0: y >> 32 is below 2^32, so its negation has the sign bit
        // set exactly when it is not 0.
        self.mov(t, y);
        self.alu(AluOp::Rsh, t, Src::Imm(32));
        self.alu(AluOp::Neg, t, Src::Imm(0));
        self.alu(AluOp::Rsh, t, Src::Imm(63));
        self.alu(AluOp::Lsh, t, Src::Imm(5));
        self.alu(AluOp::Rsh, y, Src::Reg(t));
        self.mov(r, t);
        // Now y < 2^32: t = s if y > 2^s - 1 (the difference 2^s - 1 - y is negative, and
        // small enough not to wrap past the sign bit).
        for s in [16u32, 8, 4] {
            let t = self.tmp();
            self.mov_imm(t, (1i64 << s) - 1);
            self.alu(AluOp::Sub, t, Src::Reg(y));
            self.alu(AluOp::Rsh, t, Src::Imm(63));
            self.alu(AluOp::Lsh, t, Src::Imm(s.trailing_zeros() as i32));
            self.alu(AluOp::Rsh, y, Src::Reg(t));
            self.alu(AluOp::Or, r, Src::Reg(t));
        }
        // Now y < 16: its log2 is 2 bits at bit 2y of a table (0, 0, 1, 1, 2 x4, 3 x8).
        const TABLE: u32 = 0xffff_aa50;
        let t = self.tmp();
        self.alu(AluOp::Lsh, y, Src::Imm(1));
        self.alu32(AluOp::Mov, t, Src::Imm(TABLE as i32));
        self.alu(AluOp::Rsh, t, Src::Reg(y));
        self.alu(AluOp::And, t, Src::Imm(3));
        self.alu(AluOp::Or, r, Src::Reg(t));
    }
}

/// Folds `a op b` as the kernel would compute it (division by zero gives 0, modulo by zero a).
pub(super) fn fold(kind: u8, a: i64, b: i64, ty: Ty) -> i64 {
    match kind {
        0 => a.wrapping_add(b),
        1 => a.wrapping_sub(b),
        2 => a.wrapping_mul(b),
        3 => {
            if b == 0 {
                0
            } else if ty == Ty::U64 {
                ((a as u64) / (b as u64)) as i64
            } else {
                a.wrapping_div(b)
            }
        }
        _ => {
            if b == 0 {
                a
            } else if ty == Ty::U64 {
                ((a as u64) % (b as u64)) as i64
            } else if ty == Ty::I64 {
                a.wrapping_rem(b)
            } else {
                let r = a.wrapping_rem(b);
                if r != 0 && (r ^ b) < 0 {
                    r + b
                } else {
                    r
                }
            }
        }
    }
}

pub(super) fn fold_bit(op: Builtin, ks: &[i64], wide: bool) -> i64 {
    let norm = |x: i64| if wide { x } else { i64::from(x as i32) };
    let r = match op {
        Builtin::BitTobit => ks[0],
        Builtin::BitBnot => !ks[0],
        Builtin::BitBand => ks.iter().fold(-1, |a, b| a & b),
        Builtin::BitBor => ks.iter().fold(0, |a, b| a | b),
        Builtin::BitBxor => ks.iter().fold(0, |a, b| a ^ b),
        Builtin::BitLshift => {
            if wide {
                ks[0].wrapping_shl((ks[1] & 63) as u32)
            } else {
                i64::from((ks[0] as u32).wrapping_shl((ks[1] & 31) as u32) as i32)
            }
        }
        Builtin::BitRshift => {
            if wide {
                ((ks[0] as u64) >> (ks[1] & 63)) as i64
            } else {
                i64::from(((ks[0] as u32) >> (ks[1] & 31)) as i32)
            }
        }
        _ => {
            if wide {
                ks[0] >> (ks[1] & 63)
            } else {
                i64::from((ks[0] as i32) >> (ks[1] & 31))
            }
        }
    };
    norm(r)
}
