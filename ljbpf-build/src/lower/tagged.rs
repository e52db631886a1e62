//! Operations on tagged values (a slot whose kind differs between paths, `Val::Tagged`):
//! each operation whose meaning depends on the type (signed or unsigned, 32- or 64-bit bit
//! operations) runs once per kind the value may have, chosen by the tag at run time.

use super::*;

/// An operation on two scalar operands giving a value.
pub(super) type BinOp<'f, 'a> = dyn FnMut(&mut Lowerer<'a>, Opnd, Opnd) -> LResult<Val> + 'f;

impl<'a> Lowerer<'a> {
    /// `f(x, y)` where either may be tagged: a branch per number kind of each tagged operand,
    /// the results meeting in one register (tagged again when their types differ).
    pub(super) fn split2(&mut self, x: Val, y: Val, f: &mut BinOp<'_, 'a>) -> LResult<Val> {
        match (&x, &y) {
            (Val::Tagged { .. }, _) => {
                // The other operand is read once, before the branches.
                let yv = self.settle(y)?;
                self.split(x, &mut |l, xo| match &yv {
                    Val::Tagged { .. } => l.split(yv.clone(), &mut |l2, yo| f(l2, xo, yo)),
                    other => {
                        let yo = l.operand(other.clone())?;
                        f(l, xo, yo)
                    }
                })
            }
            (_, Val::Tagged { .. }) => {
                let xo = self.operand(x)?;
                self.split(y, &mut |l, yo| f(l, xo, yo))
            }
            _ => {
                let xo = self.operand(x)?;
                let yo = self.operand(y)?;
                f(self, xo, yo)
            }
        }
    }

    /// A value read now into a register if it is a field or a map value (so that the branches
    /// of a split do not each read it).
    fn settle(&mut self, v: Val) -> LResult<Val> {
        match v {
            Val::Tagged { .. } | Val::K(_) | Val::Rt { .. } => Ok(v),
            other => {
                let o = self.operand(other)?;
                Ok(Val::Rt {
                    v: self.reg_of(o),
                    ty: o.ty,
                    width: o.width,
                })
            }
        }
    }

    /// `f(x)` for each number kind a tagged `x` may be.
    pub(super) fn split(
        &mut self,
        x: Val,
        f: &mut dyn FnMut(&mut Lowerer<'a>, Opnd) -> LResult<Val>,
    ) -> LResult<Val> {
        let Val::Tagged { v, tag, kinds } = x else {
            let o = self.operand(x)?;
            return f(self, o);
        };
        self.numbers_only(kinds)?;
        let (rv, rtag) = (self.tmp(), self.tmp());
        let done = self.code.label();
        let list: Vec<Kind> = kinds.iter().collect();
        let mut out = Kinds(0);
        for (n, k) in list.iter().enumerate() {
            let next = self.code.label();
            if n + 1 < list.len() {
                self.e(Insn::Jmp {
                    op: JmpOp::Jne,
                    dst: R::V(tag),
                    src: Src::Imm(k.tag() as i32),
                    target: next,
                });
            }
            let ty = k.num_ty().unwrap_or(Ty::Num);
            let r = f(
                self,
                Opnd {
                    k: None,
                    v: Some(v),
                    ty,
                    width: 0,
                },
            )?;
            let Some(rk) = kinds_of_result(&r) else {
                return Err(self.err(format!(
                    "internal error: a tagged operation gave {}",
                    r.describe()
                )));
            };
            out = out.union(rk);
            match r {
                Val::Rt { v: r, ty, .. } => {
                    self.mov(rv, r);
                    match Kind::of_num(ty) {
                        Some(k) => self.mov_imm(rtag, k.tag()),
                        None => {
                            self.mov(rtag, r);
                            self.alu(AluOp::Add, rtag, Src::Imm(1));
                        }
                    }
                }
                Val::K(c) => {
                    let k = const_int(&c).unwrap_or(0);
                    self.mov_imm(rv, k);
                    let kind = match c {
                        Const::Bool(b) => 1 + i64::from(b),
                        other => const_ty(&other).and_then(Kind::of_num).map_or(0, Kind::tag),
                    };
                    self.mov_imm(rtag, kind);
                }
                _ => {}
            }
            self.e(Insn::Ja { target: done });
            self.code.bind(next);
        }
        self.code.bind(done);
        Ok(match out.single_ty() {
            Some(ty) => Val::Rt {
                v: rv,
                ty,
                width: 0,
            },
            None => Val::Tagged {
                v: rv,
                tag: rtag,
                kinds: out,
            },
        })
    }

    /// Refuses kinds an arithmetic or ordering operation cannot take: LuaJIT would raise an
    /// error on the paths where the value is nil or a boolean.
    pub(super) fn numbers_only(&self, kinds: Kinds) -> LResult<()> {
        if kinds.has(Kind::Nil) {
            return Err(self
                .err(format!(
                    "this value may be nil here: it is {} on different paths",
                    kinds.describe()
                ))
                .hint("guard it first: `if x then ... end`, or give a default: `x or 0`"));
        }
        if kinds.has(Kind::True) || kinds.has(Kind::False) {
            return Err(self.err(format!(
                "attempt to compute with a value that is {} on different paths",
                kinds.describe()
            )));
        }
        Ok(())
    }

    /// A condition as a boolean value.
    pub(super) fn materialize(&mut self, c: Cond) -> Val {
        match c {
            Cond::Known(b) => Val::K(Const::Bool(b)),
            Cond::Test { op, a, b } => {
                let t = self.tmp();
                self.mov_imm(t, 1);
                let skip = self.code.label();
                self.e(Insn::Jmp {
                    op,
                    dst: R::V(a),
                    src: rsrc(b),
                    target: skip,
                });
                self.mov_imm(t, 0);
                self.code.bind(skip);
                Val::Rt {
                    v: t,
                    ty: Ty::Bool,
                    width: 0,
                }
            }
        }
    }
}

/// The kinds a split's branch result has.
fn kinds_of_result(v: &Val) -> Option<Kinds> {
    match v {
        Val::Rt { ty, .. } => Some(Kinds::of_ty(*ty)),
        Val::K(Const::Bool(b)) => Some(Kinds::one(if *b { Kind::True } else { Kind::False })),
        Val::K(c) => const_ty(c).and_then(Kind::of_num).map(Kinds::one),
        _ => None,
    }
}
