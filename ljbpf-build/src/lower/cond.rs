//! Conditions: truthiness, comparisons, tests, numeric for loops, string compares.

use super::join::kinds_of;
use super::*;

/// A tagged value known to be one of `kinds`: a plain value when that is one kind (or the
/// two booleans), else still tagged.
pub(super) fn narrow(v: VReg, tag: VReg, kinds: Kinds) -> Val {
    if kinds.0 == Kinds::one(Kind::Nil).0 {
        return Val::K(Const::Nil);
    }
    if kinds.0 == Kinds::one(Kind::True).0 {
        return Val::K(Const::Bool(true));
    }
    if kinds.0 == Kinds::one(Kind::False).0 {
        return Val::K(Const::Bool(false));
    }
    match kinds.single_ty() {
        Some(ty) => Val::Rt { v, ty, width: 0 },
        None => Val::Tagged { v, tag, kinds },
    }
}

impl<'a> Lowerer<'a> {
    /// The truthiness of a value as a condition that holds when it is truthy.
    pub(super) fn truth(&mut self, v: Val) -> LResult<Cond> {
        Ok(match v {
            Val::K(Const::Nil) | Val::K(Const::Bool(false)) => Cond::Known(false),
            Val::K(_)
            | Val::Fn(_)
            | Val::Ctx
            | Val::Stack { .. }
            | Val::Pkt { .. }
                        | Val::Slice { .. }
            | Val::RtSlice { .. }
            | Val::DataLoc { .. }
            // cdata pointers are true in LuaJIT, even NULL ones (compare with nil for that).
            | Val::Ptr { .. } => Cond::Known(true),
            Val::Rt {
                ty: Ty::Bool, v, ..
            } => Cond::Test {
                op: JmpOp::Jne,
                a: v,
                b: Src::Imm(0),
            },
            Val::Rt { .. } => Cond::Known(true),
            Val::MapPtr {
                nullable: false, ..
            } => Cond::Known(true),
            Val::MapPtr { v, .. } => Cond::Test {
                op: JmpOp::Jne,
                a: v,
                b: Src::Imm(0),
            },
            Val::Ref { ref ty, .. } => {
                if *ty == CType::Bool {
                    let o = self.operand(v)?;
                    let r = self.reg_of(o);
                    Cond::Test {
                        op: JmpOp::Jne,
                        a: r,
                        b: Src::Imm(0),
                    }
                } else {
                    Cond::Known(true)
                }
            }
            Val::Tagged { tag, kinds, .. } => {
                if kinds.truthy(false).0 == 0 {
                    Cond::Known(true)
                } else if kinds.truthy(true).0 == 0 {
                    Cond::Known(false)
                } else {
                    Cond::Test {
                        op: JmpOp::Jgt,
                        a: tag,
                        b: Src::Imm(1),
                    }
                }
            }
            Val::Undef(why) => return Err(self.undefined(why)),
        })
    }

    /// FORI/FORL of `for i = start, stop, step`: slot A is the index, A+1 the limit, A+2 the
    /// step (a constant here, so the direction is known), A+3 the loop variable. FORI jumps
    /// past the loop when it does not run; FORL adds the step and jumps back while it runs.
    /// Returns the condition for the jump and the states on the jump and fall-through edges.
    pub(super) fn for_loop(&mut self, st: &mut State, ins: Ins) -> LResult<(Cond, State, State)> {
        let a = ins.a;
        let step = match self.get(st, a.saturating_add(2)) {
            Val::K(c) => const_int(&c).filter(|k| *k != 0),
            _ => None,
        }
        .ok_or_else(|| {
            self.err("the step of a numeric for loop must be a nonzero integer constant")
        })?;
        if ins.op != Op::FORI {
            let idx = self.operand(self.get(st, a))?;
            let next = self.arith(
                Op::ADDVV,
                idx,
                Opnd {
                    k: Some(step),
                    v: None,
                    ty: Ty::Num,
                    width: 0,
                },
            )?;
            self.set(st, a, next);
        }
        let idx = self.operand(self.get(st, a))?;
        let stop = self.operand(self.get(st, a.saturating_add(1)))?;
        if idx.ty != Ty::Num || stop.ty != Ty::Num {
            return Err(self.err("numeric for loops count with numbers, not cdata or booleans"));
        }
        let idx_val = self.get(st, a);
        let mut body = st.clone();
        self.set(&mut body, a.saturating_add(3), idx_val);
        if ins.op == Op::FORI {
            // Jump past the loop when it does not run at all.
            let op = if step > 0 { JmpOp::Jsgt } else { JmpOp::Jslt };
            Ok((self.compare(op, idx, stop), st.clone(), body))
        } else {
            // Jump back while it still runs.
            let op = if step > 0 { JmpOp::Jsle } else { JmpOp::Jsge };
            Ok((self.compare(op, idx, stop), body, st.clone()))
        }
    }

    /// A comparison or test; returns the condition and the states on the taken and fall edges.
    pub(super) fn branch(&mut self, st: &mut State, ins: Ins) -> LResult<(Cond, State, State)> {
        let a = self.get(st, ins.a);
        let d = ins.d;
        let mut taken = st.clone();
        let mut fall = st.clone();
        let cond = match ins.op {
            Op::IST | Op::ISF | Op::ISTC | Op::ISFC => {
                let v = self.get(st, d as u8);
                let c = self.truth(v.clone())?;
                let want_true = matches!(ins.op, Op::IST | Op::ISTC);
                if matches!(ins.op, Op::ISTC | Op::ISFC) {
                    self.set(&mut taken, ins.a, v.clone());
                }
                // A boolean copied by `or`/`and` is what the test found (`b or 5` is true or a
                // number, never false). Only the copy: the slot tested keeps its register.
                if let (Val::Rt { ty: Ty::Bool, .. }, Op::ISTC | Op::ISFC) = (&v, ins.op) {
                    self.set(&mut taken, ins.a, Val::K(Const::Bool(want_true)));
                }
                // A tagged value is what its truthiness says on each edge.
                if let Val::Tagged { v: r, tag, kinds } = &v {
                    let (t, f) = if want_true {
                        (&mut taken, &mut fall)
                    } else {
                        (&mut fall, &mut taken)
                    };
                    refine(t, &v, narrow(*r, *tag, kinds.truthy(true)));
                    refine(f, &v, narrow(*r, *tag, kinds.truthy(false)));
                }
                // Refine a nullable map value on both edges.
                if let Val::MapPtr {
                    v: r,
                    map,
                    ty,
                    nullable: true,
                } = &v
                {
                    let nonnull = Val::MapPtr {
                        v: *r,
                        map: *map,
                        ty: ty.clone(),
                        nullable: false,
                    };
                    let (t, f) = if want_true {
                        (&mut taken, &mut fall)
                    } else {
                        (&mut fall, &mut taken)
                    };
                    refine(t, &v, nonnull.clone());
                    refine(f, &v, Val::K(Const::Nil));
                }
                if want_true {
                    c
                } else {
                    negate(c)
                }
            }
            Op::ISEQP | Op::ISNEP => {
                let p = pri(d);
                let c = self.equal(a.clone(), Val::K(p.clone()))?;
                if let (Val::Tagged { v: r, tag, kinds }, Some(pk)) =
                    (&a, kinds_of(&Val::K(p.clone())))
                {
                    let (is, isnt) = if ins.op == Op::ISEQP {
                        (&mut taken, &mut fall)
                    } else {
                        (&mut fall, &mut taken)
                    };
                    refine(is, &a, narrow(*r, *tag, Kinds(kinds.0 & pk.0)));
                    refine(isnt, &a, narrow(*r, *tag, Kinds(kinds.0 & !pk.0)));
                }
                if let (
                    Val::MapPtr {
                        v: r,
                        map,
                        ty,
                        nullable: true,
                    },
                    Const::Nil,
                ) = (&a, &p)
                {
                    let nonnull = Val::MapPtr {
                        v: *r,
                        map: *map,
                        ty: ty.clone(),
                        nullable: false,
                    };
                    let (isnil, notnil) = if ins.op == Op::ISEQP {
                        (&mut taken, &mut fall)
                    } else {
                        (&mut fall, &mut taken)
                    };
                    refine(isnil, &a, Val::K(Const::Nil));
                    refine(notnil, &a, nonnull);
                }
                if ins.op == Op::ISEQP {
                    c
                } else {
                    negate(c)
                }
            }
            Op::ISEQS | Op::ISNES => {
                let s = self.kbytes(d)?;
                let c = match &a {
                    Val::K(Const::Str(x)) => Cond::Known(*x == s),
                    Val::Slice { .. } | Val::Ref { .. } => self.equal_bytes(a.clone(), &s)?,
                    Val::RtSlice { off, start, end } => {
                        self.equal_rt_slice(*off, *start, *end, &s)?
                    }
                    Val::K(_) | Val::Rt { .. } | Val::MapPtr { .. } => Cond::Known(false),
                    other => {
                        return Err(
                            self.err(format!("cannot compare {} with a string", other.describe()))
                        )
                    }
                };
                if ins.op == Op::ISEQS {
                    c
                } else {
                    negate(c)
                }
            }
            Op::ISEQN | Op::ISNEN => {
                let k = self.knum(d)?;
                let c = self.equal(a, Val::K(Const::Num(k as f64)))?;
                if ins.op == Op::ISEQN {
                    c
                } else {
                    negate(c)
                }
            }
            Op::ISEQV | Op::ISNEV => {
                let b = self.get(st, d as u8);
                let c = self.equal(a, b)?;
                if ins.op == Op::ISEQV {
                    c
                } else {
                    negate(c)
                }
            }
            Op::ISLT | Op::ISGE | Op::ISLE | Op::ISGT
                if matches!(a, Val::Tagged { .. })
                    || matches!(self.get(st, d as u8), Val::Tagged { .. }) =>
            {
                // Signed or unsigned depends on the kind: compare in each, then test.
                let b = self.get(st, d as u8);
                let op = ins.op;
                let r = self.split2(a, b, &mut |l, x, y| {
                    let c = l.order(op, x, y)?;
                    Ok(l.materialize(c))
                })?;
                self.truth(r)?
            }
            Op::ISLT | Op::ISGE | Op::ISLE | Op::ISGT => {
                let x = self.operand(a)?;
                let y = self.operand(self.get(st, d as u8))?;
                self.order(ins.op, x, y)?
            }
            other => {
                return Err(self.err(format!(
                    "internal error: {} is not a condition",
                    other.name()
                )))
            }
        };
        Ok((cond, taken, fall))
    }

    /// `x < y` and the other orders with LuaJIT's typing: unsigned when uint64 is involved.
    pub(super) fn order(&mut self, op: Op, x: Opnd, y: Opnd) -> LResult<Cond> {
        {
            {
                if x.ty == Ty::Bool || y.ty == Ty::Bool {
                    return Err(self.err("attempt to compare a boolean value"));
                }
                let unsigned = Ty::arith(x.ty, y.ty) == Ty::U64;
                // ISGE means `not (a < b)`, ISGT `not (a <= b)`: for integers the same as >=, >.
                let op = match (op, unsigned) {
                    (Op::ISLT, false) => JmpOp::Jslt,
                    (Op::ISGE, false) => JmpOp::Jsge,
                    (Op::ISLE, false) => JmpOp::Jsle,
                    (Op::ISGT, false) => JmpOp::Jsgt,
                    (Op::ISLT, true) => JmpOp::Jlt,
                    (Op::ISGE, true) => JmpOp::Jge,
                    (Op::ISLE, true) => JmpOp::Jle,
                    (_, true) => JmpOp::Jgt,
                    (_, false) => JmpOp::Jsgt,
                };
                Ok(self.compare(op, x, y))
            }
        }
    }

    pub(super) fn compare(&mut self, op: JmpOp, x: Opnd, y: Opnd) -> Cond {
        if let (Some(a), Some(b)) = (x.k, y.k) {
            return Cond::Known(op.eval(a, b));
        }
        let a = self.reg_of(x);
        let b = self.src_of(y);
        Cond::Test { op, a, b }
    }

    /// `a == b` with Lua's rules: values of different kinds are never equal.
    pub(super) fn equal(&mut self, a: Val, b: Val) -> LResult<Cond> {
        let is_nil = |v: &Val| matches!(v, Val::K(Const::Nil));
        match (&a, &b) {
            // A NULL cdata pointer equals nil in LuaJIT.
            (Val::Ptr { v, .. }, x) | (x, Val::Ptr { v, .. }) if is_nil(x) => Ok(Cond::Test {
                op: JmpOp::Jeq,
                a: *v,
                b: Src::Imm(0),
            }),
            (Val::MapPtr { v, nullable, .. }, x) | (x, Val::MapPtr { v, nullable, .. })
                if is_nil(x) =>
            {
                if *nullable {
                    Ok(Cond::Test {
                        op: JmpOp::Jeq,
                        a: *v,
                        b: Src::Imm(0),
                    })
                } else {
                    Ok(Cond::Known(false))
                }
            }
            (Val::K(x), Val::K(y)) if const_int(x).is_none() || const_int(y).is_none() => {
                Ok(Cond::Known(x == y))
            }
            // A number against a tagged value: equal when it is a number (of any type: LuaJIT
            // compares numbers and 64-bit cdata by value) of that value.
            (Val::Tagged { v, tag, kinds }, x) | (x, Val::Tagged { v, tag, kinds })
                if !matches!(
                    x,
                    Val::K(Const::Nil | Const::Bool(_) | Const::Str(_)) | Val::Tagged { .. }
                ) =>
            {
                let (v, tag, kinds) = (*v, *tag, *kinds);
                let y = self.operand(x.clone())?;
                if y.ty == Ty::Bool {
                    return Err(
                        self.err("comparing a boolean with a tagged value is not supported")
                    );
                }
                if !kinds.iter().any(|k| k.num_ty().is_some()) {
                    return Ok(Cond::Known(false));
                }
                let (t, done) = self.all_of();
                self.e(Insn::Jmp {
                    op: JmpOp::Jlt,
                    dst: R::V(tag),
                    src: Src::Imm(Kind::Num.tag() as i32),
                    target: done,
                });
                let ys = rsrc(self.src_of(y));
                self.e(Insn::Jmp {
                    op: JmpOp::Jne,
                    dst: R::V(v),
                    src: ys,
                    target: done,
                });
                Ok(self.all_of_end(t, done))
            }
            // nil, true, false against a tagged value: its tag says.
            (Val::Tagged { tag, kinds, .. }, Val::K(c @ (Const::Nil | Const::Bool(_))))
            | (Val::K(c @ (Const::Nil | Const::Bool(_))), Val::Tagged { tag, kinds, .. }) => {
                let k = match c {
                    Const::Nil => Kind::Nil,
                    Const::Bool(true) => Kind::True,
                    _ => Kind::False,
                };
                Ok(if kinds.has(k) {
                    Cond::Test {
                        op: JmpOp::Jeq,
                        a: *tag,
                        b: Src::Imm(k.tag() as i32),
                    }
                } else {
                    Cond::Known(false)
                })
            }
            // A string from an upvalue (`local GET = 'GET '`, `M.post`) compares as a literal.
            (Val::K(Const::Str(s)), v) | (v, Val::K(Const::Str(s))) => match v {
                Val::Slice { .. } | Val::Ref { .. } => self.equal_bytes(v.clone(), s),
                Val::K(_) | Val::Rt { .. } | Val::MapPtr { .. } | Val::Tagged { .. } => {
                    Ok(Cond::Known(false))
                }
                other => {
                    Err(self.err(format!("cannot compare {} with a string", other.describe())))
                }
            },
            (
                Val::Slice {
                    off: o1,
                    dynoff: d1,
                    len: l1,
                },
                Val::Slice {
                    off: o2,
                    dynoff: d2,
                    len: l2,
                },
            ) if l1 != l2 || !matches!(l1, 1 | 2 | 4 | 8) => {
                if l1 != l2 {
                    // Both slices are read all the same (see `equal_bytes`).
                    self.pkt_load(*o1 + *l1 as i32 - 1, 1, *d1)?;
                    self.pkt_load(*o2 + *l2 as i32 - 1, 1, *d2)?;
                    return Ok(Cond::Known(false));
                }
                self.equal_slices((*o1, *d1), (*o2, *d2), *l1)
            }
            (Val::K(Const::Nil), _) | (_, Val::K(Const::Nil)) => Ok(Cond::Known(false)),
            (Val::K(Const::Bool(_)), Val::Rt { ty, .. })
            | (Val::Rt { ty, .. }, Val::K(Const::Bool(_)))
                if *ty != Ty::Bool =>
            {
                Ok(Cond::Known(false))
            }
            _ => {
                let x = self.operand(a)?;
                let y = self.operand(b)?;
                if (x.ty == Ty::Bool) != (y.ty == Ty::Bool) {
                    return Ok(Cond::Known(false));
                }
                Ok(self.compare(JmpOp::Jeq, x, y))
            }
        }
    }

    /// Starts a condition that holds only if every check between here and [`all_of_end`]
    /// passes: a 0/1 flag, 0 for now, and the label each failing check jumps to.
    ///
    /// [`all_of_end`]: Self::all_of_end
    pub(super) fn all_of(&mut self) -> (VReg, Label) {
        let t = self.tmp();
        self.mov_imm(t, 0);
        (t, self.code.label())
    }

    /// Ends a condition [`all_of`](Self::all_of) started: past the last check the flag is 1;
    /// the failures join at `done`.
    pub(super) fn all_of_end(&mut self, t: VReg, done: Label) -> Cond {
        self.mov_imm(t, 1);
        self.code.bind(done);
        Cond::Test {
            op: JmpOp::Jne,
            a: t,
            b: Src::Imm(0),
        }
    }

    /// Jumps to `done` unless `chunk`, a 1- to 8-byte piece loaded from memory or the packet,
    /// holds the bytes `want` (in memory order).
    pub(super) fn jump_unless_bytes(&mut self, chunk: VReg, want: &[u8], done: Label) {
        let mut bytes = [0u8; 8];
        bytes[..want.len()].copy_from_slice(want);
        let k = rsrc(self.src_of(Opnd {
            k: Some(i64::from_le_bytes(bytes)),
            v: None,
            ty: Ty::U64,
            width: 0,
        }));
        self.e(Insn::Jmp {
            op: JmpOp::Jne,
            dst: R::V(chunk),
            src: k,
            target: done,
        });
    }

    /// Compares packet bytes or a char buffer with a string constant. A slice equals the
    /// string when its bytes are the string's; a char array when it holds the string and then a
    /// NUL (or the string fills it), as C's `strcmp` would say.
    pub(super) fn equal_bytes(&mut self, v: Val, s: &[u8]) -> LResult<Cond> {
        enum From {
            Packet(Option<VReg>),
            Memory(Base),
        }
        let (src, off, want) = match v {
            Val::Slice { off, dynoff, len } => {
                if len as usize != s.len() {
                    // Not equal, but the slice is read all the same: past the end, the read
                    // ends the program.
                    self.pkt_load(off + len as i32 - 1, 1, dynoff)?;
                    return Ok(Cond::Known(false));
                }
                (From::Packet(dynoff), off, s.to_vec())
            }
            Val::Ref {
                base,
                off,
                ty: CType::Array(elem, n),
            } if elem.size() == 1 => {
                let mut want = s.to_vec();
                if s.len() > n as usize {
                    return Ok(Cond::Known(false));
                }
                if s.len() < n as usize {
                    want.push(0);
                }
                (From::Memory(base), off, want)
            }
            other => {
                return Err(self.err(format!("cannot compare {} with a string", other.describe())))
            }
        };
        let (t, done) = self.all_of();
        let mut chunks = chunks(off, want.len(), matches!(src, From::Packet(_)));
        if matches!(src, From::Packet(_)) {
            // The last chunk first: if the slice crosses the packet's end, that load ends the
            // program with 0 before any difference is seen (a read past the end ends the
            // program, whatever the bytes before it).
            chunks.rotate_right(1);
        }
        for (i, w) in chunks {
            let at = off + i as i32;
            let c = match &src {
                From::Packet(dynoff) => self.pkt_load(at, w as u32, *dynoff)?,
                From::Memory(base) => {
                    let ty = CType::Int {
                        size: w as u8,
                        signed: false,
                        is_char: false,
                    };
                    let o = self.load(base.clone(), at, &ty)?;
                    self.reg_of(o)
                }
            };
            self.jump_unless_bytes(c, &want[i..i + w], done);
        }
        Ok(self.all_of_end(t, done))
    }

    /// Compares two packet slices of `len` bytes, the last chunk of each first (see
    /// [`equal_bytes`](Self::equal_bytes)).
    fn equal_slices(
        &mut self,
        (o1, d1): (i32, Option<VReg>),
        (o2, d2): (i32, Option<VReg>),
        len: u32,
    ) -> LResult<Cond> {
        let (t, done) = self.all_of();
        let mut list = chunks(o1, len as usize, true);
        list.rotate_right(1);
        // The first round loads both last chunks before comparing: either slice crossing the
        // end ends the program.
        for (i, w) in list {
            let a = self.pkt_load(o1 + i as i32, w as u32, d1)?;
            let b = self.pkt_load(o2 + i as i32, w as u32, d2)?;
            self.e(Insn::Jmp {
                op: JmpOp::Jne,
                dst: R::V(a),
                src: Src::Reg(R::V(b)),
                target: done,
            });
        }
        Ok(self.all_of_end(t, done))
    }
}

/// `len` bytes at `off` as (start, width) chunks: the widest that fits, at most 4 bytes from
/// the packet (LD_ABS sizes), else aligned (context and stack loads must be aligned).
fn chunks(off: i32, len: usize, packet: bool) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0usize;
    while i < len {
        let at = off + i as i32;
        let w = [8usize, 4, 2, 1]
            .into_iter()
            .find(|w| {
                i + w <= len && (packet && *w <= 4 || !packet && at.rem_euclid(*w as i32) == 0)
            })
            .unwrap_or(1);
        out.push((i, w));
        i += w;
    }
    out
}
