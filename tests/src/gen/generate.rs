//! Random generation of programs in the supported subset, deterministic from an [`Rng`].

use super::*;

/// A variable in scope while generating.
#[derive(Clone, Debug)]
pub(crate) struct Var {
    name: String,
    ty: Ty,
}

pub(crate) struct Gen<'r> {
    pub(crate) rng: &'r mut Rng,
    /// Stack arrays of the program (declared first, so in scope everywhere; `indexes.rs`).
    pub(crate) arrays: Vec<Arr>,
    /// Variables in scope, innermost last; `scopes` marks where each block's variables start.
    vars: Vec<Var>,
    scopes: Vec<usize>,
    env: Env,
    pub(crate) next_var: usize,
    pub(crate) next_slot: usize,
    /// Statements still allowed (keeps programs within the verifier's and compiler's limits).
    budget: usize,
}

pub(crate) const NUM_LITERALS: &[i64] = &[
    0,
    1,
    2,
    3,
    5,
    7,
    8,
    10,
    16,
    31,
    32,
    33,
    63,
    64,
    100,
    255,
    256,
    1000,
    65535,
    65536,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0x1_0000_0000,
    -1,
    -2,
    -3,
    -7,
    -8,
    -32,
    -255,
    -1000,
    -0x8000_0000,
    -0xffff_ffff,
    1 << 40,
    -(1 << 45),
];

pub(crate) const I64_LITERALS: &[i64] = &[
    0,
    1,
    2,
    3,
    7,
    -1,
    -2,
    -7,
    1000,
    -1000,
    0x7fff_ffff,
    0x1_0000_0000,
    -0x1_0000_0000,
    i64::MAX,
    i64::MIN + 1,
    0x0123_4567_89ab_cdef,
];

pub(crate) const U64_LITERALS: &[u64] = &[
    0,
    1,
    2,
    3,
    7,
    1000,
    0xffff_ffff,
    0x1_0000_0000,
    1 << 63,
    u64::MAX,
    u64::MAX - 1,
    0xff00_ff00_ff00_ff00,
];

impl Gen<'_> {
    fn vars_of(&self, ty: Ty) -> Vec<&Var> {
        self.vars.iter().filter(|v| v.ty == ty).collect()
    }

    fn leaf(&mut self, ty: Ty) -> Expr {
        let vars: Vec<String> = self.vars_of(ty).iter().map(|v| v.name.clone()).collect();
        if !vars.is_empty() && self.rng.chance(2, 3) {
            let name = self.rng.pick(&vars).clone();
            return Expr::Var(name, ty);
        }
        match ty {
            // A packet byte read in place: the same byte loaded again and again.
            Ty::Num if self.rng.chance(1, 6) => Expr::Pkt(*self.rng.pick(PKT_BYTES)),
            Ty::Num => Expr::Num(*self.rng.pick(NUM_LITERALS)),
            Ty::I64 => Expr::I64(*self.rng.pick(I64_LITERALS)),
            Ty::U64 => Expr::U64(*self.rng.pick(U64_LITERALS)),
            Ty::Bool => {
                let l = self.leaf(Ty::Num);
                let r = self.leaf(Ty::Num);
                Expr::Cmp(*self.rng.pick(CMPS), Box::new(l), Box::new(r))
            }
        }
    }

    /// A random expression of type `ty` whose numbers stay bounded.
    pub(crate) fn expr(&mut self, ty: Ty, depth: u32) -> Expr {
        for _ in 0..8 {
            let e = self.expr_raw(ty, depth);
            debug_assert_eq!(e.ty(), ty, "{}", e.text(false));
            if bound(&e, &self.env).is_some() {
                return e;
            }
        }
        self.leaf(ty)
    }

    /// Types for the operands of a binary operation producing `ty`.
    fn operand_types(&mut self, ty: Ty) -> (Ty, Ty) {
        match ty {
            Ty::Num | Ty::Bool => (Ty::Num, Ty::Num),
            cd => {
                let other = *self.rng.pick(&[Ty::Num, Ty::I64, Ty::U64, cd, cd]);
                let other = if Ty::arith(cd, other) == cd {
                    other
                } else {
                    cd
                };
                if self.rng.chance(1, 2) {
                    (cd, other)
                } else {
                    (other, cd)
                }
            }
        }
    }

    fn expr_raw(&mut self, ty: Ty, depth: u32) -> Expr {
        // Run-time indexes and slices (`indexes.rs`).
        if self.rng.chance(1, 12) {
            if ty == Ty::Bool && self.rng.chance(1, 3) {
                return self.ix_slice();
            }
            if let Some(e) = self.ix_read(ty) {
                return e;
            }
        }
        if depth == 0 || self.rng.chance(1, 5) {
            return self.leaf(ty);
        }
        let d = depth - 1;
        if ty == Ty::Bool {
            return match self.rng.below(10) {
                0..=4 => {
                    let lt = *self.rng.pick(&[Ty::Num, Ty::Num, Ty::I64, Ty::U64]);
                    let rt = *self.rng.pick(&[Ty::Num, Ty::Num, Ty::I64, Ty::U64, lt]);
                    let l = self.expr(lt, d);
                    let r = self.expr(rt, d);
                    Expr::Cmp(*self.rng.pick(CMPS), Box::new(l), Box::new(r))
                }
                5 => {
                    let t = *self.rng.pick(&[Ty::Num, Ty::Bool, Ty::Bool, Ty::U64]);
                    Expr::Not(Box::new(self.expr(t, d)))
                }
                6 | 7 => {
                    let l = self.expr(Ty::Bool, d);
                    let r = self.expr(Ty::Bool, d);
                    if self.rng.chance(1, 2) {
                        Expr::And(Box::new(l), Box::new(r))
                    } else {
                        Expr::Or(Box::new(l), Box::new(r))
                    }
                }
                8 => {
                    // A truthy value `and` a boolean is the boolean.
                    let l = self.expr(Ty::Num, d.min(1));
                    let r = self.expr(Ty::Bool, d);
                    Expr::And(Box::new(l), Box::new(r))
                }
                _ => {
                    let c = self.expr(Ty::Bool, d);
                    let t = self.expr(Ty::Bool, d);
                    let e = self.expr(Ty::Bool, d);
                    // `c and t or e` with boolean t is not a conditional; it is still Lua.
                    Expr::Or(Box::new(Expr::And(Box::new(c), Box::new(t))), Box::new(e))
                }
            };
        }
        match self.rng.below(20) {
            0..=7 => {
                let op = *self.rng.pick(&[
                    Arith::Add,
                    Arith::Add,
                    Arith::Sub,
                    Arith::Sub,
                    Arith::Mul,
                    Arith::Mul,
                    Arith::Div,
                    Arith::Mod,
                ]);
                let (lt, rt) = self.operand_types(ty);
                let l = self.expr(lt, d);
                let r = if matches!(op, Arith::Div | Arith::Mod) && self.rng.chance(1, 2) {
                    // Small divisors (often zero) make the interesting cases likely.
                    self.small(rt, d)
                } else {
                    self.expr(rt, d)
                };
                Expr::Arith(op, Box::new(l), Box::new(r))
            }
            8 => Expr::Neg(Box::new(self.expr(ty, d))),
            9..=12 => {
                let f = *self.rng.pick(&[
                    BitFn::Band,
                    BitFn::Bor,
                    BitFn::Bxor,
                    BitFn::Bnot,
                    BitFn::Lshift,
                    BitFn::Rshift,
                    BitFn::Arshift,
                    BitFn::Tobit,
                ]);
                match f {
                    BitFn::Bnot => Expr::Bit(f, vec![self.expr(ty, d)]),
                    BitFn::Tobit => {
                        if ty == Ty::Num {
                            Expr::Bit(f, vec![self.expr(Ty::Num, d)])
                        } else {
                            Expr::Bit(BitFn::Bnot, vec![self.expr(ty, d)])
                        }
                    }
                    BitFn::Lshift | BitFn::Rshift | BitFn::Arshift => {
                        let v = self.expr(ty, d);
                        let n = self.shift_count(d);
                        Expr::Bit(f, vec![v, n])
                    }
                    // A 32-bit result (often negative) cut to its low bits by a mask: only
                    // the low bits of the operation are read, so its sign extension can go
                    // (`mir::bits`).
                    BitFn::Band if ty == Ty::Num && self.rng.chance(1, 4) => {
                        let inner = self.expr(Ty::Num, d);
                        let op = *self.rng.pick(&[BitFn::Bnot, BitFn::Bxor, BitFn::Lshift]);
                        let v = match op {
                            BitFn::Bnot => Expr::Bit(op, vec![inner]),
                            BitFn::Lshift => Expr::Bit(op, vec![inner, self.shift_count(d)]),
                            _ => Expr::Bit(op, vec![inner, self.expr(Ty::Num, d)]),
                        };
                        let mask = *self.rng.pick(&[0xff, 0xffff, 0x7fff_ffff, -256]);
                        Expr::Bit(f, vec![v, Expr::Num(mask)])
                    }
                    BitFn::Band | BitFn::Bor | BitFn::Bxor => {
                        let (lt, rt) = self.operand_types(ty);
                        let mut args = vec![self.expr(lt, d), self.expr(rt, d)];
                        if self.rng.chance(1, 4) {
                            args.push(self.expr(if ty == Ty::Num { Ty::Num } else { ty }, d));
                        }
                        Expr::Bit(f, args)
                    }
                }
            }
            13..=15 => {
                let op = *self.rng.pick(&[
                    NativeOp::And,
                    NativeOp::Or,
                    NativeOp::Xor,
                    NativeOp::Shl,
                    NativeOp::Shr,
                    NativeOp::Sar,
                ]);
                if op.is_shift() {
                    let v = self.expr(ty, d);
                    let n = self.shift_count(d);
                    Expr::Native(op, Box::new(v), Box::new(n))
                } else if self.rng.chance(1, 6) {
                    Expr::NativeNot(Box::new(self.expr(ty, d)))
                } else {
                    let (lt, rt) = self.operand_types(ty);
                    let l = self.expr(lt, d);
                    let r = self.expr(rt, d);
                    Expr::Native(op, Box::new(l), Box::new(r))
                }
            }
            16 | 17 => {
                let c = self.expr(Ty::Bool, d);
                let t = self.expr(ty, d);
                let e = self.expr(ty, d);
                Expr::Cond(Box::new(c), Box::new(t), Box::new(e))
            }
            18 => {
                // `v or e` is v; `v and e` is e (numbers and cdata are true).
                let other = *self.rng.pick(&[Ty::Num, Ty::I64, Ty::U64]);
                if self.rng.chance(1, 2) {
                    let l = self.expr(ty, d);
                    let r = self.expr(other, d.min(1));
                    Expr::Or(Box::new(l), Box::new(r))
                } else {
                    let l = self.expr(other, d.min(1));
                    let r = self.expr(ty, d);
                    Expr::And(Box::new(l), Box::new(r))
                }
            }
            19 if ty == Ty::Num && self.rng.chance(1, 2) => {
                // Of any type: negative numbers and int64, and uint64 from 2^63 up, are read
                // as unsigned (63).
                let t = *self.rng.pick(&[Ty::Num, Ty::Num, Ty::I64, Ty::U64]);
                Expr::Log2(Box::new(self.expr(t, d)))
            }
            _ => self.leaf(ty),
        }
    }

    /// A number expression LuaJIT's parser does not fold (a left operand of `%` by a
    /// constant).
    pub(crate) fn nonconst(&mut self, d: u32) -> Expr {
        let e = self.expr(Ty::Num, d);
        if is_const(&e) {
            let input = *self.rng.pick(&["a", "b", "c", "d"]);
            Expr::Var(input.to_owned(), Ty::Num)
        } else {
            e
        }
    }

    /// A divisor: often zero, one, minus one or small.
    fn small(&mut self, ty: Ty, d: u32) -> Expr {
        // Powers of two up to 2^31 are shifts and masks in the compiler (2^32 is not: its mask
        // is no 32-bit immediate), negative numbers take the floored modulo's other way.
        let n = *self
            .rng
            .pick(&[0i64, 0, 1, -1, 2, 3, -3, 7, 4, -8, 256, 1 << 31, 1 << 32]);
        match (ty, self.rng.below(3)) {
            (Ty::Num, 0) => Expr::Arith(
                Arith::Mod,
                Box::new(self.nonconst(d)),
                Box::new(Expr::Num(*self.rng.pick(&[2, 3, 5, 4, 256, 1 << 31]))),
            ),
            (Ty::Num, _) => Expr::Num(n),
            (Ty::I64, _) => Expr::I64(n),
            (Ty::U64, _) => Expr::U64(n as u64),
            (Ty::Bool, _) => self.leaf(Ty::Bool),
        }
    }

    /// A shift count: a number, sometimes beyond the width or negative.
    fn shift_count(&mut self, d: u32) -> Expr {
        match self.rng.below(4) {
            0 => Expr::Num(*self.rng.pick(&[0, 1, 4, 7, 31, 32, 33, 63, 64, 65, -1])),
            1 => Expr::Arith(
                Arith::Mod,
                Box::new(self.nonconst(d)),
                Box::new(Expr::Num(*self.rng.pick(&[32, 64, 70]))),
            ),
            _ => self.expr(Ty::Num, d.min(1)),
        }
    }

    fn value_ty(&mut self) -> Ty {
        *self
            .rng
            .pick(&[Ty::Num, Ty::Num, Ty::Num, Ty::I64, Ty::U64, Ty::Bool])
    }

    fn fresh(&mut self, ty: Ty) -> String {
        let prefix = match ty {
            Ty::Num => "n",
            Ty::I64 => "s",
            Ty::U64 => "u",
            Ty::Bool => "t",
        };
        self.next_var += 1;
        format!("{prefix}{}", self.next_var)
    }

    fn declare(&mut self, name: &str, ty: Ty, e: &Expr) {
        if ty == Ty::Num {
            let b = bound(e, &self.env).unwrap_or(NUM_MAX);
            let slot = self.env.entry(name.to_owned()).or_insert(0);
            *slot = (*slot).max(b);
        }
        self.vars.push(Var {
            name: name.to_owned(),
            ty,
        });
    }

    pub(crate) fn key(&mut self) -> Expr {
        match self.rng.below(4) {
            0 => Expr::Num(self.rng.below(MAP_LEN + 2) as i64),
            1 => Expr::Bit(
                BitFn::Band,
                vec![self.expr(Ty::Num, 1), Expr::Num(MAP_LEN as i64 - 1)],
            ),
            _ => Expr::Arith(
                Arith::Mod,
                Box::new(self.nonconst(2)),
                Box::new(Expr::Num(*self.rng.pick(&[8, 10]))),
            ),
        }
    }

    fn block(&mut self, depth: u32, len: usize) -> Vec<Stmt> {
        self.scopes.push(self.vars.len());
        let mut out = Vec::new();
        for _ in 0..len {
            if self.budget == 0 {
                break;
            }
            self.budget -= 1;
            out.push(self.stmt(depth));
        }
        let start = self.scopes.pop().expect("scope");
        self.vars.truncate(start);
        out
    }

    fn stmt(&mut self, depth: u32) -> Stmt {
        let ed = 1 + self.rng.below(3) as u32;
        let pick = self.rng.below(22);
        if pick >= 20 {
            if let Some(shape) = self.shape() {
                return Stmt::Shape(shape);
            }
        }
        match pick {
            0..=5 => {
                let ty = self.value_ty();
                let e = self.expr(ty, ed);
                let name = self.fresh(ty);
                self.declare(&name, ty, &e);
                Stmt::Local(name, e)
            }
            6..=8 => {
                let candidates: Vec<Var> = self
                    .vars
                    .iter()
                    .filter(|v| v.ty != Ty::Bool || self.vars.len() < 4)
                    .cloned()
                    .collect();
                let v = self.rng.pick(&candidates).clone();
                let e = self.expr(v.ty, ed);
                if v.ty == Ty::Num {
                    let b = bound(&e, &self.env).unwrap_or(NUM_MAX);
                    let slot = self.env.entry(v.name.clone()).or_insert(0);
                    *slot = (*slot).max(b);
                }
                Stmt::Assign(v.name, e)
            }
            9..=11 if depth > 0 => {
                let arms = 1 + self.rng.below(3);
                let mut list = Vec::new();
                for _ in 0..arms {
                    let c = self.expr(Ty::Bool, ed);
                    let n = 1 + self.rng.below(3);
                    list.push((c, self.block(depth - 1, n)));
                }
                let els = if self.rng.chance(1, 2) {
                    let n = 1 + self.rng.below(3);
                    Some(self.block(depth - 1, n))
                } else {
                    None
                };
                Stmt::If(list, els)
            }
            12..=14 if self.next_slot < OUT_SLOTS => {
                let ty = *self.rng.pick(&[Ty::Num, Ty::I64, Ty::U64]);
                let e = self.expr(ty, ed);
                self.next_slot += 1;
                Stmt::Out(self.next_slot - 1, e)
            }
            15 | 16 => {
                let map = if self.rng.chance(1, 2) {
                    MapName::M
                } else {
                    MapName::W
                };
                let k = self.key();
                let v = match map {
                    MapName::M => {
                        let ty = *self.rng.pick(&[Ty::Num, Ty::I64, Ty::U64]);
                        self.expr(ty, ed)
                    }
                    // Numbers into uint32_t: C leaves out-of-range conversions undefined, so
                    // keep them in range; cdata convert by truncation.
                    MapName::W => {
                        if self.rng.chance(1, 2) {
                            Expr::Bit(
                                BitFn::Band,
                                vec![self.expr(Ty::Num, ed), Expr::Num(0x7fff_ffff)],
                            )
                        } else {
                            let ty = *self.rng.pick(&[Ty::I64, Ty::U64]);
                            self.expr(ty, ed)
                        }
                    }
                };
                Stmt::MapWrite(map, k, v)
            }
            17 | 18 => {
                let map = if self.rng.chance(1, 2) {
                    MapName::M
                } else {
                    MapName::W
                };
                let key = self.key();
                let (ty, default, add) = match map {
                    MapName::M => {
                        let at = *self.rng.pick(&[Ty::Num, Ty::I64, Ty::U64]);
                        (Ty::U64, self.expr(Ty::U64, 1), self.expr(at, ed))
                    }
                    MapName::W => {
                        let mut add = self.expr(Ty::Num, ed);
                        let too_big = bound(&add, &self.env)
                            .is_none_or(|b| b + u64::from(u32::MAX) > NUM_MAX);
                        if too_big {
                            add = self.leaf(Ty::Num);
                            if bound(&add, &self.env)
                                .is_none_or(|b| b + u64::from(u32::MAX) > NUM_MAX)
                            {
                                add = Expr::Num(1);
                            }
                        }
                        (Ty::Num, self.expr(Ty::Num, 1), add)
                    }
                };
                let var = self.fresh(ty);
                if ty == Ty::Num {
                    let b = bound(&default, &self.env)
                        .unwrap_or(NUM_MAX)
                        .max(bound(&add, &self.env).unwrap_or(NUM_MAX) + u64::from(u32::MAX));
                    self.env.insert(var.clone(), b.min(NUM_MAX));
                }
                self.vars.push(Var {
                    name: var.clone(),
                    ty,
                });
                Stmt::MapRead {
                    var,
                    map,
                    key,
                    default,
                    add,
                }
            }
            19 if !self.arrays.is_empty() => self.ix_write(ed),
            _ => {
                let ty = *self.rng.pick(&[Ty::Num, Ty::I64, Ty::U64]);
                let e = self.expr(ty, ed);
                let name = self.fresh(ty);
                self.declare(&name, ty, &e);
                Stmt::Local(name, e)
            }
        }
    }
}

/// Offsets of the packet bytes programs read in place (from the Ethernet header): the IP
/// header's TTL and protocol, a byte of the source address, the TCP ports, a byte of the
/// sequence number and the flags. Inside every test packet (the shapes read past the end).
const PKT_BYTES: &[u16] = &[22, 23, 29, 34, 35, 41, 47];

pub(crate) const CMPS: &[Cmp] = &[Cmp::Lt, Cmp::Le, Cmp::Gt, Cmp::Ge, Cmp::Eq, Cmp::Ne];

impl Program {
    /// A random program.
    pub fn generate(rng: &mut Rng) -> Program {
        let vars = INPUTS
            .iter()
            .map(|i| Var {
                name: i.0.to_owned(),
                ty: i.1,
            })
            .collect();
        let budget = 4 + rng.below(14);
        let mut g = Gen {
            rng,
            arrays: Vec::new(),
            vars,
            scopes: Vec::new(),
            env: input_env(),
            next_var: 0,
            next_slot: 0,
            budget,
        };
        let len = g.budget;
        let mut body = g.ix_arrays();
        body.extend(g.block(3, len));
        // `block` ended the top block's scope; bring its locals back for the final outputs.
        for s in &body {
            if let Stmt::Local(name, e) = s {
                g.vars.push(Var {
                    name: name.clone(),
                    ty: e.ty(),
                });
            }
            if let Stmt::MapRead { var, map, .. } = s {
                g.vars.push(Var {
                    name: var.clone(),
                    ty: if *map == MapName::M { Ty::U64 } else { Ty::Num },
                });
            }
        }
        // Every top-level local ends up in an output, so nothing computed is dead.
        let locals: Vec<Var> = g.vars[INPUTS.len()..].to_vec();
        for v in locals {
            if g.next_slot >= OUT_SLOTS {
                break;
            }
            let e = if v.ty == Ty::Bool {
                Expr::Cond(
                    Box::new(Expr::Var(v.name.clone(), Ty::Bool)),
                    Box::new(Expr::Num(1)),
                    Box::new(Expr::Num(0)),
                )
            } else {
                Expr::Var(v.name.clone(), v.ty)
            };
            body.push(Stmt::Out(g.next_slot, e));
            g.next_slot += 1;
        }
        let rt = *g.rng.pick(&[Ty::Num, Ty::Num, Ty::Num, Ty::I64, Ty::U64]);
        let ret = g.expr(rt, 2);
        let p = Program {
            body,
            ret,
            hook: Hook::Socket,
        };
        debug_assert!(p.bounded(), "{}", p.probe_source());
        p
    }
}
