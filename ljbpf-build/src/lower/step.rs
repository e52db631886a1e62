//! Running one block: the per-instruction loop and the step for each LuaJIT opcode.

use super::*;

impl Lowerer<'_> {
    /// Lowers block `b` from entry state `st`. In the emitting pass (`targets` given), edges
    /// move values to where successors expect them and jump; returns the outgoing edges.
    pub(super) fn run_block(
        &mut self,
        blocks: &[Block],
        b: usize,
        mut st: State,
        targets: Option<(&Vec<Option<State>>, &Vec<Label>)>,
    ) -> Vec<(usize, State)> {
        let block = &blocks[b];
        let succ_of = |pc: isize| blocks.iter().position(|x| x.start as isize == pc);
        let mut edges = Vec::new();
        let mut pc = block.start;
        while pc < block.end {
            let (ins, line) = self.proto.ins[pc];
            self.line = line;
            self.read_poison.set(false);
            // Numeric for loops: FORI enters or skips the body, FORL steps and loops back.
            if matches!(ins.op, Op::FORI | Op::FORL | Op::IFORL) {
                let target = succ_of(ins.jump_target(pc));
                let fall = succ_of(pc as isize + 1);
                let (Some(target), Some(fall)) = (target, fall) else {
                    self.errors
                        .push(self.err("internal error: loop target is not a block start"));
                    return edges;
                };
                match self.for_loop(&mut st, ins) {
                    Ok((cond, st_taken, st_fall)) => {
                        self.emit_branch(
                            cond,
                            (target, st_taken),
                            (fall, st_fall),
                            b,
                            targets,
                            &mut edges,
                        );
                    }
                    Err(d) => self.errors.push(d),
                }
                return edges;
            }
            // A comparison or test followed by its JMP ends the block.
            if ins.op.is_cond()
                && pc + 1 < self.proto.ins.len()
                && self.proto.ins[pc + 1].0.op == Op::JMP
            {
                let jmp = self.proto.ins[pc + 1].0;
                let taken = succ_of(jmp.jump_target(pc + 1));
                let fall = succ_of(pc as isize + 2);
                let (Some(taken), Some(fall)) = (taken, fall) else {
                    self.errors
                        .push(self.err("internal error: branch target is not a block start"));
                    return edges;
                };
                match self.branch(&mut st, ins) {
                    Ok((cond, st_taken, st_fall)) => {
                        self.emit_branch(
                            cond,
                            (taken, st_taken),
                            (fall, st_fall),
                            b,
                            targets,
                            &mut edges,
                        );
                    }
                    Err(d) => {
                        // Both ways stay reachable, so the blocks after them are still lowered
                        // (for their own errors; no code is kept once there is one).
                        self.report(d);
                        edges.push((taken, st.clone()));
                        edges.push((fall, st));
                    }
                }
                return edges;
            }
            match self.step(&mut st, ins, pc) {
                Ok(Flow::Next) => {}
                Ok(Flow::Jump(t)) => {
                    match succ_of(t) {
                        Some(s) => self.emit_edge(st.clone(), s, b, targets, &mut edges, true),
                        None => self
                            .errors
                            .push(self.err("internal error: jump target is not a block start")),
                    }
                    return edges;
                }
                Ok(Flow::Return) => return edges,
                Err(d) => {
                    self.report(d);
                    if ins.op.has_jump()
                        || matches!(
                            ins.op,
                            Op::RET | Op::RET0 | Op::RET1 | Op::RETM | Op::CALLT | Op::CALLMT
                        )
                    {
                        return edges;
                    }
                    // Go on with the next instruction, so one build reports the function's
                    // other errors too: what this one would have written is poisoned, and
                    // errors about poisoned values are dropped (they only repeat this one).
                    for slot in ins.written_slots() {
                        if let Ok(slot) = u8::try_from(slot) {
                            self.set(&mut st, slot, Val::Undef(POISONED));
                        }
                    }
                }
            }
            pc += 1;
        }
        // Fall through.
        if let Some(s) = succ_of(block.end as isize) {
            self.emit_edge(st, s, b, targets, &mut edges, false);
        }
        edges
    }

    /// Keeps an error of the current instruction; one that read a poisoned slot is kept aside
    /// (the error that poisoned the slot is the one to fix).
    fn report(&mut self, d: Diagnostic) {
        if self.read_poison.get() {
            self.follow_on.push(d);
        } else {
            self.errors.push(d);
        }
    }

    fn step(&mut self, st: &mut State, ins: Ins, pc: usize) -> LResult<Flow> {
        let (a, d) = (ins.a, ins.d);
        match ins.op {
            Op::KSTR => {
                let s = self.kbytes(d)?;
                self.set(st, a, Val::K(Const::Str(s)));
            }
            Op::KCDATA => {
                let c = self
                    .proto
                    .kgc
                    .get(d as usize)
                    .cloned()
                    .unwrap_or(Const::Nil);
                match c {
                    Const::Int64(_) | Const::UInt64(_) => self.set(st, a, Val::K(c)),
                    other => {
                        return Err(self.err(format!("unsupported constant {}", other.describe())))
                    }
                }
            }
            Op::KSHORT => self.set(st, a, Val::K(Const::Num(f64::from(ins.d_signed())))),
            Op::KNUM => {
                let n = self.proto.knum.get(d as usize).copied().unwrap_or(0.0);
                if num_to_int(n).is_none() {
                    return Err(self.not_int(n));
                }
                self.set(st, a, Val::K(Const::Num(n)));
            }
            Op::KPRI => self.set(st, a, Val::K(pri(d))),
            Op::KNIL => {
                for s in a..=(d as u8) {
                    self.set(st, s, Val::K(Const::Nil));
                }
            }
            Op::MOV => {
                let v = self.get(st, d as u8);
                self.set(st, a, v);
            }
            Op::NOT => {
                let v = self.get(st, d as u8);
                let out = match self.truth(v)? {
                    Cond::Known(t) => Val::K(Const::Bool(!t)),
                    Cond::Test { op, a: x, b } => {
                        // t = 0; if x is truthy goto skip; t = 1; skip:
                        let t = self.tmp();
                        self.mov_imm(t, 0);
                        let skip = self.code.label();
                        let b = rsrc(b);
                        self.e(Insn::Jmp {
                            op,
                            dst: R::V(x),
                            src: b,
                            target: skip,
                        });
                        self.mov_imm(t, 1);
                        self.code.bind(skip);
                        Val::Rt {
                            v: t,
                            ty: Ty::Bool,
                            width: 0,
                        }
                    }
                };
                self.set(st, a, out);
            }
            Op::UNM => {
                let x = self.get(st, d as u8);
                let out = self.split(x, &mut |l, o| {
                    l.arith(
                        Op::SUBVV,
                        Opnd {
                            k: Some(0),
                            v: None,
                            ty: Ty::Num,
                            width: 0,
                        },
                        o,
                    )
                })?;
                self.set(st, a, out);
            }
            Op::ADDVN
            | Op::SUBVN
            | Op::MULVN
            | Op::DIVVN
            | Op::MODVN
            | Op::ADDNV
            | Op::SUBNV
            | Op::MULNV
            | Op::DIVNV
            | Op::MODNV
            | Op::ADDVV
            | Op::SUBVV
            | Op::MULVV
            | Op::DIVVV
            | Op::MODVV => {
                let (x, y) = match ins.op {
                    Op::ADDVN | Op::SUBVN | Op::MULVN | Op::DIVVN | Op::MODVN => {
                        (self.get(st, ins.b), num(self.knum(u16::from(ins.c))?))
                    }
                    Op::ADDNV | Op::SUBNV | Op::MULNV | Op::DIVNV | Op::MODNV => {
                        (num(self.knum(u16::from(ins.c))?), self.get(st, ins.b))
                    }
                    _ => (self.get(st, ins.b), self.get(st, ins.c)),
                };
                let out = match (&x, &y) {
                    // Moving a dissector: `pkt.ip + 9`, `d + n`.
                    (Val::Pkt { .. }, _) | (_, Val::Pkt { .. })
                        if matches!(ins.op, Op::ADDVN | Op::ADDNV | Op::ADDVV) =>
                    {
                        self.pkt_add(x, y)?
                    }
                    _ => {
                        let op = ins.op;
                        self.split2(x, y, &mut |l, x, y| l.arith(op, x, y))?
                    }
                };
                self.set(st, a, out);
            }
            Op::BNOT => {
                let x = self.get(st, d as u8);
                let out = self.split(x, &mut |l, x| l.bitop(Builtin::BitBnot, &[x]))?;
                self.set(st, a, out);
            }
            Op::BAND | Op::BOR | Op::BXOR | Op::BSHL | Op::BSHR | Op::BSAR => {
                let x = self.get(st, ins.b);
                let y = self.get(st, ins.c);
                let op = match ins.op {
                    Op::BAND => Builtin::BitBand,
                    Op::BOR => Builtin::BitBor,
                    Op::BXOR => Builtin::BitBxor,
                    Op::BSHL => Builtin::BitLshift,
                    Op::BSHR => Builtin::BitRshift,
                    _ => Builtin::BitArshift,
                };
                let out = self.split2(x, y, &mut |l, x, y| l.bitop(op, &[x, y]))?;
                self.set(st, a, out);
            }
            Op::UGET => {
                let v = match self.proto.upvalues.get(d as usize) {
                    Some((_, c)) => Val::K(c.clone()),
                    None => return Err(self.err("internal error: upvalue out of range")),
                };
                self.set(st, a, v);
            }
            Op::GGET => {
                let name = self.kstr(d)?;
                let v = self.global(&name)?;
                self.set(st, a, v);
            }
            Op::TGETS => {
                let key = self.kstr(u16::from(ins.c))?;
                let obj = self.get(st, ins.b);
                let v = self.index_str(obj, &key)?;
                let v = self.fetch_ctx(v)?;
                self.set(st, a, v);
            }
            Op::TGETB => {
                let obj = self.get(st, ins.b);
                let v = self.index(obj, Val::K(Const::Num(f64::from(ins.c))))?;
                let v = self.fetch_ctx(v)?;
                self.set(st, a, v);
            }
            Op::TGETV => {
                let obj = self.get(st, ins.b);
                let key = self.get(st, ins.c);
                let v = match (&obj, &key) {
                    (_, Val::K(Const::Str(s))) => {
                        self.index_str(obj.clone(), &String::from_utf8_lossy(s))?
                    }
                    _ => self.index(obj, key)?,
                };
                let v = self.fetch_ctx(v)?;
                self.set(st, a, v);
            }
            Op::TSETS => {
                self.settle_refs(st, &[])?;
                let key = self.kstr(u16::from(ins.c))?;
                let obj = self.get(st, ins.b);
                let val = self.get(st, a);
                self.store_str(obj, &key, val)?;
            }
            Op::TSETB => {
                self.settle_refs(st, &[])?;
                let obj = self.get(st, ins.b);
                let val = self.get(st, a);
                self.store(obj, Val::K(Const::Num(f64::from(ins.c))), val)?;
            }
            Op::TSETV => {
                self.settle_refs(st, &[])?;
                let obj = self.get(st, ins.b);
                let key = self.get(st, ins.c);
                let val = self.get(st, a);
                match &key {
                    Val::K(Const::Str(s)) => {
                        self.store_str(obj, &String::from_utf8_lossy(s), val)?
                    }
                    _ => self.store(obj, key, val)?,
                }
            }
            Op::CALL | Op::CALLT | Op::CALLM | Op::CALLMT => {
                // Arguments start at A+2 (GC64 frames: A is the function, A+1 the frame link).
                // CALLM/CALLMT take C/D fixed arguments plus the results of the previous
                // multi-result call, which builtins always make exactly one.
                let nargs = match ins.op {
                    Op::CALL => ins.c.checked_sub(1),
                    Op::CALLT => (d as u8).checked_sub(1),
                    Op::CALLM => Some(ins.c.saturating_add(self.multres)),
                    _ => Some((d as u8).saturating_add(self.multres)),
                };
                let Some(nargs) = nargs else {
                    return Err(self.err("internal error: call without an argument count"));
                };
                let f = self.get(st, a);
                let args: Vec<u8> = (0..nargs)
                    .map(|i| a.saturating_add(2).saturating_add(i))
                    .collect();
                let result = self.call(st, f, &args, pc)?;
                if matches!(ins.op, Op::CALLT | Op::CALLMT) {
                    self.ret(result)?;
                    return Ok(Flow::Return);
                }
                for s in a..st.len() as u8 {
                    self.set(st, s, Val::Undef("it was overwritten by a call"));
                }
                match ins.b {
                    // Multiple results: exactly one, consumed by the next CALLM/RETM.
                    0 => {
                        self.set(st, a, result);
                        self.multres = 1;
                    }
                    nres => {
                        if nres >= 2 {
                            self.set(st, a, result);
                        }
                        for s in 1..nres.saturating_sub(1) {
                            self.set(st, a.saturating_add(s), Val::K(Const::Nil));
                        }
                    }
                }
            }
            Op::RETM => {
                // `return x, f()`: the first value is the program's result.
                let v = self.get(st, a);
                self.ret(v)?;
                return Ok(Flow::Return);
            }
            Op::RET0 => {
                self.ret(Val::K(Const::Nil))?;
                return Ok(Flow::Return);
            }
            Op::RET1 => {
                let v = self.get(st, a);
                self.ret(v)?;
                return Ok(Flow::Return);
            }
            Op::RET => {
                if d < 2 {
                    self.ret(Val::K(Const::Nil))?;
                } else {
                    let v = self.get(st, a);
                    self.ret(v)?;
                }
                return Ok(Flow::Return);
            }
            Op::JMP => return Ok(Flow::Jump(ins.jump_target(pc))),
            // A hint for the JIT marking a `while`/`repeat` loop head: nothing to do.
            Op::LOOP | Op::ILOOP => {}
            Op::UCLO => return Ok(Flow::Jump(ins.jump_target(pc))),
            Op::FUNCF | Op::IFUNCF | Op::JFUNCF | Op::FUNCV | Op::IFUNCV | Op::JFUNCV => {}
            Op::FORI | Op::FORL | Op::IFORL => {
                return Err(self.err(format!(
                    "internal error: {} outside a block end at pc {pc}",
                    ins.op.name()
                )));
            }
            Op::JFORI | Op::JFORL | Op::JLOOP => {
                return Err(self
                    .err("loops are not supported yet")
                    .hint("unroll the loop at the top level of the file, or compute the value outside the program"));
            }
            Op::ITERC | Op::ITERN | Op::ITERL | Op::IITERL | Op::JITERL | Op::ISNEXT => {
                return Err(
                    self.err("`for ... in` iteration is not supported in program functions")
                );
            }
            Op::CAT => {
                // `a .. b .. c` over slots B..C: folded when every part is a constant.
                let mut out = Vec::new();
                for slot in ins.b..=ins.c {
                    match self.get(st, slot) {
                        Val::K(Const::Str(s)) => out.extend_from_slice(&s),
                        Val::K(c @ Const::Num(_)) => match const_int(&c) {
                            Some(k) => out.extend_from_slice(k.to_string().as_bytes()),
                            None => return Err(self.err("cannot concatenate a non-integer number")),
                        },
                        _ => {
                            return Err(self
                                .err("string concatenation at run time is not supported")
                                .hint(
                                    "concatenate constants only, or build strings at the top level",
                                ))
                        }
                    }
                }
                self.set(st, a, Val::K(Const::Str(out)));
            }
            Op::POW => return Err(self.err("`^` (power) is not supported in program functions")),
            Op::LEN => return Err(self.err("`#` (length) is not supported in program functions")),
            Op::TNEW | Op::TDUP => {
                return Err(self
                    .err("tables cannot be created in program functions")
                    .hint("use ffi.new('struct ...') for a stack object, or a bpf.map"))
            }
            Op::FNEW => return Err(self.err("functions cannot be created in program functions")),
            Op::GSET => {
                return Err(self
                    .err("program functions cannot set globals")
                    .hint("use a local or a map"))
            }
            Op::USETV | Op::USETS | Op::USETN | Op::USETP => {
                return Err(self
                    .err("program functions cannot assign upvalues")
                    .hint("use a map to keep state between runs"))
            }
            Op::VARG => return Err(self.err("`...` is not supported in program functions")),
            Op::TSETM => return Err(self.err("tables cannot be created in program functions")),
            Op::TGETR | Op::TSETR => {
                return Err(self.err("raw table access is not supported in program functions"))
            }
            Op::ISTYPE | Op::ISNUM => {
                return Err(self.err("type checks are not supported in program functions"))
            }
            Op::ISLT
            | Op::ISGE
            | Op::ISLE
            | Op::ISGT
            | Op::ISEQV
            | Op::ISNEV
            | Op::ISEQS
            | Op::ISNES
            | Op::ISEQN
            | Op::ISNEN
            | Op::ISEQP
            | Op::ISNEP
            | Op::ISTC
            | Op::ISFC
            | Op::IST
            | Op::ISF => {
                return Err(self.err(format!(
                    "internal error: {} without a following JMP at pc {pc}",
                    ins.op.name()
                )));
            }
            Op::FUNCC | Op::FUNCCW => {
                return Err(self.err("internal error: C function header in a Lua function"))
            }
        }
        Ok(Flow::Next)
    }
}
