//! Helper calls and the builtins probe code calls.

use super::*;

impl<'a> Lowerer<'a> {
    /// Emits a helper call; returns the register holding its result.
    pub(super) fn call_helper(&mut self, h: Helper, args: &[Arg]) -> VReg {
        for (i, a) in args.iter().enumerate() {
            let r = R::P(Reg(i as u8 + 1));
            match *a {
                Arg::Reg(v) => self.e(Insn::Alu64 {
                    op: AluOp::Mov,
                    dst: r,
                    src: Src::Reg(R::V(v)),
                }),
                Arg::Imm(k) => self.mov_imm_r(r, k),
                Arg::Stack(off) => {
                    self.e(Insn::Alu64 {
                        op: AluOp::Mov,
                        dst: r,
                        src: Src::Reg(R::P(Reg::R10)),
                    });
                    self.e(Insn::Alu64 {
                        op: AluOp::Add,
                        dst: r,
                        src: Src::Imm(-off),
                    });
                }
                Arg::Map(id) => self.e(Insn::LdMap {
                    dst: r,
                    map: MapId(id),
                }),
                Arg::Ctx => self.e(Insn::Alu64 {
                    op: AluOp::Mov,
                    dst: r,
                    src: Src::Reg(R::P(Reg::R6)),
                }),
            }
        }
        self.e(Insn::Call { helper: h });
        let t = self.tmp();
        self.e(Insn::Alu64 {
            op: AluOp::Mov,
            dst: R::V(t),
            src: Src::Reg(R::P(Reg::R0)),
        });
        t
    }

    /// Calls a builtin; returns its result.
    pub(super) fn call(&mut self, st: &mut State, f: Val, args: &[u8], pc: usize) -> LResult<Val> {
        if let Val::Pkt { off, dynoff, .. } = f {
            // d(a, b): bytes a..b-1 of the dissector.
            let argv: Vec<Val> = args.iter().map(|&s| self.get(st, s)).collect();
            let bounds: Vec<Option<i64>> = argv
                .iter()
                .map(|v| match v {
                    Val::K(c) => const_int(c),
                    _ => None,
                })
                .collect();
            if argv.len() != 2 {
                return Err(self.err("a packet slice is d(a, b): two offsets"));
            }
            // Bounds known only at run time, or constant ones that make no slice (empty,
            // reversed, before the dissector, beyond any packet, longer than any string it can
            // equal): the run-time rules (docs/indexes.md).
            let (Some(Some(a)), Some(Some(b))) = (bounds.first(), bounds.get(1)) else {
                return self.rt_slice(off, dynoff, argv[0].clone(), argv[1].clone());
            };
            let far = i32::try_from(i64::from(off) + b).is_err();
            if *a < 0 || b <= a || far || b - a > super::index::MAX_RT_SLICE as i64 {
                return self.rt_slice(off, dynoff, argv[0].clone(), argv[1].clone());
            }
            return Ok(Val::Slice {
                off: off + *a as i32,
                dynoff,
                len: (b - a) as u32,
            });
        }
        let Val::Fn(b) = f else {
            let what = match &f {
                Val::K(Const::Other(o)) if o == "a function" => {
                    "a Lua function of the file: program functions can only call builtins (xadd, time, bit.*, ffi.new, ...)".to_string()
                }
                other => other.describe(),
            };
            return Err(self.err(format!("attempt to call {what}")));
        };
        let argv: Vec<Val> = args.iter().map(|&s| self.get(st, s)).collect();
        let arg = |_: &Self, i: usize| argv.get(i).cloned().unwrap_or(Val::K(Const::Nil));
        let nargs = args.len();
        let want = |l: &Self, n: usize| -> LResult<()> {
            if nargs < n {
                Err(l.err(format!(
                    "{} needs {n} argument{}",
                    b.name(),
                    if n == 1 { "" } else { "s" }
                )))
            } else {
                Ok(())
            }
        };
        match b {
            Builtin::Time => Ok(Val::Rt {
                v: self.call_helper(Helper::KtimeGetNs, &[]),
                ty: Ty::U64,
                width: 0,
            }),
            Builtin::PidTgid => Ok(Val::Rt {
                v: self.call_helper(Helper::GetCurrentPidTgid, &[]),
                ty: Ty::U64,
                width: 0,
            }),
            Builtin::UidGid => Ok(Val::Rt {
                v: self.call_helper(Helper::GetCurrentUidGid, &[]),
                ty: Ty::U64,
                width: 0,
            }),
            Builtin::Cpu => {
                let v = self.call_helper(Helper::GetSmpProcessorId, &[]);
                Ok(Val::Rt {
                    v,
                    ty: Ty::Num,
                    width: 4,
                })
            }
            Builtin::Rand => {
                let v = self.call_helper(Helper::GetPrandomU32, &[]);
                // The helper returns a u32; make sure the upper half is clear.
                self.alu32(AluOp::Mov, v, Src::Reg(v));
                Ok(Val::Rt {
                    v,
                    ty: Ty::Num,
                    width: 4,
                })
            }
            Builtin::Xadd => {
                want(self, 2)?;
                let target = arg(self, 0);
                self.settle_refs(st, &[args[0]])?;
                let inc = self.operand(arg(self, 1))?;
                if inc.ty == Ty::Bool {
                    return Err(self.err("bad argument #2 to xadd: number expected, got boolean"));
                }
                let (ptr, off, ty, nullable) = match target {
                    Val::MapPtr {
                        v, ty, nullable, ..
                    } => (v, 0, ty, nullable),
                    Val::Ref {
                        base: Base::Map(v),
                        off,
                        ty,
                    } => (v, off, ty, false),
                    // An element of a map value at a run-time index: added to only when the
                    // index is in range.
                    Val::Ref { base, off, ty }
                        if matches!(base.root(), Base::Map(_) | Base::Checked(_)) =>
                    {
                        return self.xadd_elem(base, off, &ty, inc);
                    }
                    other => {
                        return Err(self
                            .err(format!(
                                "xadd needs a map value or a field of one, got {}",
                                other.describe()
                            ))
                            .hint("local v = m[k]; if v then xadd(v, 1) end"))
                    }
                };
                let size = match ty.size() {
                    4 if scalar_ty(&ty).is_some() => Size::W,
                    8 if scalar_ty(&ty).is_some() => Size::DW,
                    _ => {
                        return Err(self.err(format!(
                            "xadd works on 4- and 8-byte integers, not {}",
                            ty.c_name()
                        )))
                    }
                };
                let r = self.reg_of(inc);
                let skip = self.code.label();
                if nullable {
                    self.e(Insn::Jmp {
                        op: JmpOp::Jeq,
                        dst: R::V(ptr),
                        src: Src::Imm(0),
                        target: skip,
                    });
                }
                let off = i16::try_from(off).map_err(|_| self.err("offset too large"))?;
                self.e(Insn::AtomicAdd {
                    size,
                    dst: R::V(ptr),
                    src: R::V(r),
                    off,
                });
                self.code.bind(skip);
                Ok(Val::K(Const::Nil))
            }
            Builtin::Comm => {
                want(self, 1)?;
                let (off, ty) = match arg(self, 0) {
                    Val::Stack { off, ty } => (off, ty),
                    Val::Ref {
                        base: Base::Stack(o),
                        off,
                        ty,
                    } => (o - off, ty),
                    Val::Ref { base, .. } if base.checked() => {
                        return Err(self
                            .err("comm() cannot write into an element at a run-time index: it has no address valid on every path (the index may be out of range)")
                            .hint("local buf = ffi.new('char[16]'); comm(buf), then copy what you need"))
                    }
                    other => {
                        return Err(self.err(format!(
                            "comm() needs a char[16] stack buffer or field, got {}",
                            other.describe()
                        )))
                    }
                };
                let size = ty.size();
                self.settle_refs(st, &[])?;
                self.call_helper(
                    Helper::GetCurrentComm,
                    &[Arg::Stack(off), Arg::Imm(i64::from(size))],
                );
                Ok(Val::K(Const::Nil))
            }
            Builtin::Ntoh | Builtin::Hton => {
                want(self, 1)?;
                let x = self.operand(arg(self, 0))?;
                let bits = match nargs {
                    1 => match (x.width, x.ty) {
                        (w @ (1 | 2 | 4 | 8), _) => u32::from(w) * 8,
                        (_, Ty::Num) => 32,
                        _ => 64,
                    },
                    _ => match self.operand(arg(self, 1))?.k {
                        Some(b @ (16 | 32 | 64)) => b as u32,
                        _ => {
                            return Err(self.err(format!("{}: bits must be 16, 32 or 64", b.name())))
                        }
                    },
                };
                if x.ty == Ty::Bool {
                    return Err(self.err(format!(
                        "bad argument to {}: number expected, got boolean",
                        b.name()
                    )));
                }
                // A one-byte field: nothing to swap.
                if bits == 8 {
                    return Ok(Val::Rt {
                        v: self.reg_of(x),
                        ty: x.ty,
                        width: 1,
                    });
                }
                if let Some(k) = x.k {
                    let r = match bits {
                        16 => i64::from((k as u16).swap_bytes()),
                        32 => i64::from((k as u32).swap_bytes()),
                        _ => (k as u64).swap_bytes() as i64,
                    };
                    return Ok(Val::K(if x.ty == Ty::Num {
                        Const::Num(r as f64)
                    } else if x.ty == Ty::I64 {
                        Const::Int64(r)
                    } else {
                        Const::UInt64(r as u64)
                    }));
                }
                let t = self.tmp();
                self.put_reg(x, t);
                self.e(Insn::ToBe {
                    dst: R::V(t),
                    bits: bits as u8,
                });
                // A 16- or 32-bit swap leaves that many bits (zero-extended).
                if bits < 64 {
                    self.ranges.insert(t, (1u64 << bits) - 1);
                }
                Ok(Val::Rt {
                    v: t,
                    ty: x.ty,
                    width: (bits / 8) as u8,
                })
            }
            Builtin::BitBand
            | Builtin::BitBor
            | Builtin::BitBxor
            | Builtin::BitBnot
            | Builtin::BitLshift
            | Builtin::BitRshift
            | Builtin::BitArshift
            | Builtin::BitTobit => {
                let mut ops = Vec::new();
                for i in 0..nargs {
                    ops.push(self.operand(arg(self, i))?);
                }
                self.bitop(b, &ops)
            }
            Builtin::FfiNew => {
                want(self, 1)?;
                let ty = self.ctype_arg(arg(self, 0))?;
                let size = align8(ty.size().max(1));
                let off = self.stack_object(pc, size);
                if off as u32 > MAX_STACK {
                    return Err(self
                        .err(format!(
                            "this ffi.new needs {size} bytes of stack, {off} with the objects before it; BPF allows {MAX_STACK}"
                        ))
                        .hint("use fewer or smaller stack objects, or keep large data in a map value"));
                }
                // Zero it: BPF reads of uninitialised stack are rejected, and ffi.new zero-fills.
                for i in 0..(size / 8) {
                    self.e(Insn::St {
                        size: Size::DW,
                        dst: R::P(Reg::R10),
                        off: (i as i32 * 8 - off) as i16,
                        imm: 0,
                    });
                }
                // Initialisers, as LuaJIT applies them: struct fields in order; array
                // elements in order, a single one repeated over the whole array.
                let inits: Vec<Val> = (1..nargs).map(|i| arg(self, i)).collect();
                if !inits.is_empty() {
                    let targets: Vec<(i32, CType)> = match &ty {
                        CType::Struct(def) if !def.is_union => def
                            .fields
                            .iter()
                            .filter(|f| f.bits.is_none() && !f.name.is_empty())
                            .map(|f| (f.offset as i32, f.ty.clone()))
                            .collect(),
                        CType::Array(elem, n) => (0..*n)
                            .map(|i| ((i * elem.size()) as i32, (**elem).clone()))
                            .collect(),
                        other => vec![(0, other.clone())],
                    };
                    if inits.len() > targets.len() {
                        return Err(self.err(format!(
                            "too many initialisers for {}: {} given, {} fields or elements",
                            ty.c_name(),
                            inits.len(),
                            targets.len()
                        )));
                    }
                    let repeat = inits.len() == 1 && matches!(ty, CType::Array(..));
                    for (i, (foff, fty)) in targets.iter().enumerate() {
                        let v = if repeat {
                            &inits[0]
                        } else if let Some(v) = inits.get(i) {
                            v
                        } else {
                            break;
                        };
                        self.store_to(Base::Stack(off), *foff, fty, v.clone())?;
                    }
                }
                Ok(Val::Stack { off, ty })
            }
            Builtin::FfiSizeof => {
                want(self, 1)?;
                let ty = match arg(self, 0) {
                    Val::Stack { ty, .. } | Val::Ref { ty, .. } | Val::MapPtr { ty, .. } => ty,
                    v => self.ctype_arg(v)?,
                };
                Ok(Val::K(Const::Num(f64::from(ty.size()))))
            }
            Builtin::FfiCast => {
                want(self, 2)?;
                let ty = self.ctype_arg(arg(self, 0))?;
                // An array or struct cast to a pointer: its address, as in C.
                if let CType::Pointer(pointee) = &ty {
                    if let Some((addr, _)) = self.address_of(&arg(self, 1)) {
                        return Ok(Val::Ptr {
                            v: addr,
                            pointee: self.env.ctypes.resolve(pointee),
                        });
                    }
                }
                let x = self.operand(arg(self, 1))?;
                self.cast(&ty, x)
            }
            Builtin::MathLog2 | Builtin::MathLog10 | Builtin::MathLog => {
                want(self, 1)?;
                let x = self.operand(arg(self, 0))?;
                self.log(b, x)
            }
            Builtin::LoadBytes => {
                want(self, 2)?;
                let off = self.operand(arg(self, 0))?;
                let (dst, size) = self.stack_buffer(arg(self, 1), "load_bytes")?;
                let off = match off.k {
                    Some(k) => Arg::Imm(k),
                    None => Arg::Reg(self.reg_of(off)),
                };
                let r = self.call_helper(
                    Helper::SkbLoadBytes,
                    &[Arg::Ctx, off, Arg::Stack(dst), Arg::Imm(i64::from(size))],
                );
                Ok(Val::Rt {
                    v: r,
                    ty: Ty::Num,
                    width: 0,
                })
            }
            Builtin::PerfSubmit | Builtin::RingbufOutput => {
                want(self, 2)?;
                let Val::K(Const::Map(id)) = arg(self, 0) else {
                    return Err(self.err(format!("{}: the first argument must be a map", b.name())));
                };
                let m = self.map(id)?;
                let want_kind = if b == Builtin::PerfSubmit {
                    MapKind::PerfEventArray
                } else {
                    MapKind::Ringbuf
                };
                if m.kind != want_kind {
                    return Err(self.err(format!(
                        "{}: map `{}` is a {}, not a {want_kind}",
                        b.name(),
                        m.name,
                        m.kind
                    )));
                }
                let v = arg(self, 1);
                let ty = match &v {
                    Val::Stack { ty, .. } => ty.clone(),
                    _ => CType::Int {
                        size: 8,
                        signed: false,
                        is_char: false,
                    },
                };
                let off = self.buffer(0, &ty, v, "event")?;
                self.record_event(id, &ty)?;
                let size = Arg::Imm(i64::from(ty.size()));
                let r = if b == Builtin::PerfSubmit {
                    // BPF_F_CURRENT_CPU: the buffer of the CPU the program runs on.
                    self.call_helper(
                        Helper::PerfEventOutput,
                        &[
                            Arg::Ctx,
                            Arg::Map(id),
                            Arg::Imm(0xffff_ffff),
                            Arg::Stack(off),
                            size,
                        ],
                    )
                } else {
                    self.call_helper(
                        Helper::RingbufOutput,
                        &[Arg::Map(id), Arg::Stack(off), size, Arg::Imm(0)],
                    )
                };
                Ok(Val::Rt {
                    v: r,
                    ty: Ty::Num,
                    width: 0,
                })
            }
            Builtin::Redirect | Builtin::RedirectMap => {
                let (helper, n) = if b == Builtin::Redirect {
                    (Helper::Redirect, 1)
                } else {
                    (Helper::RedirectMap, 2)
                };
                want(self, n)?;
                let class = self.env.kind.class();
                if let Some(only) = helper.only_in() {
                    if !only.contains(&class) {
                        let names: Vec<&str> = only.iter().map(|c| c.constructor()).collect();
                        return Err(self.err(format!(
                            "{} ({}) is only available in {} programs, not in {} programs",
                            b.name(),
                            helper.name(),
                            names.join(" and "),
                            class.constructor()
                        )));
                    }
                }
                let mut hargs = Vec::new();
                if b == Builtin::RedirectMap {
                    let Val::K(Const::Map(id)) = arg(self, 0) else {
                        return Err(self.err("redirect_map: the first argument must be a map (a devmap, cpumap or xskmap)"));
                    };
                    hargs.push(Arg::Map(id));
                }
                // The target (an ifindex, or the map key) and the flags (0 when left out).
                for i in hargs.len()..hargs.len() + 2 {
                    let v = if i < nargs { arg(self, i) } else { num(0) };
                    let o = self.operand(v)?;
                    if o.ty == Ty::Bool {
                        return Err(self.err(format!(
                            "bad argument #{} to {}: number expected, got boolean",
                            i + 1,
                            b.name()
                        )));
                    }
                    hargs.push(match o.k {
                        Some(k) => Arg::Imm(k),
                        None => Arg::Reg(self.reg_of(o)),
                    });
                }
                Ok(Val::Rt {
                    v: self.call_helper(helper, &hargs),
                    ty: Ty::Num,
                    width: 0,
                })
            }
            Builtin::StackId => {
                want(self, 1)?;
                let Val::K(Const::Map(id)) = arg(self, 0) else {
                    return Err(self.err("stack_id: the first argument must be a stack_trace map"));
                };
                if self.map(id)?.kind != MapKind::StackTrace {
                    return Err(self.err("stack_id: the map must be a stack_trace map"));
                }
                let flags = if nargs > 1 {
                    let f = self.operand(arg(self, 1))?;
                    f.k.ok_or_else(|| {
                        self.err("stack_id: flags must be a constant (BPF.F_USER_STACK, ...)")
                    })?
                } else {
                    0
                };
                let r = self.call_helper(
                    Helper::GetStackid,
                    &[Arg::Ctx, Arg::Map(id), Arg::Imm(flags)],
                );
                // The helper returns a long: a stack id, or a negative errno.
                Ok(Val::Rt {
                    v: r,
                    ty: Ty::Num,
                    width: 0,
                })
            }
            Builtin::FfiCopy => {
                want(self, 2)?;
                let dst_val = arg(self, 0);
                // Copying into a `char` array copies a string (BTF-derived layouts cannot say
                // whether a __data_loc array holds characters; the destination can).
                let dst_text = match &dst_val {
                    Val::Stack { ty, .. } | Val::Ref { ty, .. } => {
                        matches!(ty, CType::Array(e, _) if e.is_char())
                    }
                    _ => false,
                };
                let (dst, size) = self.stack_buffer(dst_val, "ffi.copy")?;
                let src = arg(self, 1);
                // A tracepoint string: ctx + (start & 0xffff), where the start is the field's
                // __data_loc word (+ the end of the field for __rel_loc), as bcc's
                // TP_DATA_LOC_READ does, or, for a `char` array in the record, its offset. The
                // first instruction is marked so that the loader can switch between the two
                // forms: kernels moved strings from arrays to __data_loc (comm fields in 6.10).
                let string_start = match &src {
                    Val::DataLoc { off, rel, is_char } => {
                        Some((*off, *rel, *is_char || dst_text, false))
                    }
                    Val::Ref {
                        base: Base::Ctx,
                        off,
                        ty: CType::Array(e, _),
                    } if self.env.tracepoint.is_some() && e.is_char() => {
                        Some((*off, false, true, true))
                    }
                    _ => None,
                };
                if let Some((off, rel, is_char, array)) = string_start {
                    let o = self.tmp();
                    let first = if array {
                        Insn::Alu64 {
                            op: AluOp::Mov,
                            dst: R::V(o),
                            src: Src::Imm(off),
                        }
                    } else {
                        Insn::Ldx {
                            size: Size::W,
                            dst: R::V(o),
                            src: R::P(Reg::R6),
                            off: i16::try_from(off)
                                .map_err(|_| self.err("field offset is too large"))?,
                        }
                    };
                    // A __rel_loc start also depends on the field's own place: it only moves.
                    if rel {
                        self.e_ctx(first, off);
                    } else {
                        self.e_string_start(first, off);
                    }
                    self.alu(AluOp::And, o, Src::Imm(0xffff));
                    if rel {
                        // __rel_loc is relative to the end of its own 4-byte field.
                        let add = Insn::Alu64 {
                            op: AluOp::Add,
                            dst: R::V(o),
                            src: Src::Imm(off + 4),
                        };
                        self.e_ctx(add, off);
                    }
                    let addr = self.tmp();
                    self.e(Insn::Alu64 {
                        op: AluOp::Mov,
                        dst: R::V(addr),
                        src: Src::Reg(R::P(Reg::R6)),
                    });
                    self.alu(AluOp::Add, addr, Src::Reg(o));
                    let helper = if is_char {
                        Helper::ProbeReadKernelStr
                    } else {
                        Helper::ProbeReadKernel
                    };
                    self.settle_refs(st, &[])?;
                    let r = self.call_helper(
                        helper,
                        &[Arg::Stack(dst), Arg::Imm(i64::from(size)), Arg::Reg(addr)],
                    );
                    return Ok(Val::Rt {
                        v: r,
                        ty: Ty::Num,
                        width: 0,
                    });
                }
                // A `char *` source (or a char array) copies a NUL-terminated string.
                let is_text = |t: &CType| match t {
                    CType::Array(e, _) => e.is_char(),
                    other => other.is_char(),
                };
                let (from, string) = match &src {
                    Val::Ref {
                        ty: CType::Pointer(p),
                        ..
                    } => {
                        let string = is_text(p);
                        let o = self.operand(src.clone())?;
                        (self.reg_of(o), string)
                    }
                    other => match self.address_of(other) {
                        Some((addr, ty)) => (addr, is_text(&ty)),
                        None => {
                            let o = self.operand(src.clone())?;
                            (self.reg_of(o), false)
                        }
                    },
                };
                let user = self.env.kind.class().memory() == Memory::User;
                let helper = match (user, string) {
                    (true, true) => Helper::ProbeReadUserStr,
                    (true, false) => Helper::ProbeReadUser,
                    (false, true) => Helper::ProbeReadKernelStr,
                    (false, false) => Helper::ProbeReadKernel,
                };
                self.settle_refs(st, &[])?;
                let r = self.call_helper(
                    helper,
                    &[Arg::Stack(dst), Arg::Imm(i64::from(size)), Arg::Reg(from)],
                );
                Ok(Val::Rt {
                    v: r,
                    ty: Ty::Num,
                    width: 0,
                })
            }
            Builtin::Print => {
                want(self, 1)?;
                let Val::K(Const::Str(fmt)) = arg(self, 0) else {
                    return Err(
                        self.err("print: the first argument must be a constant format string")
                    );
                };
                if nargs > 4 {
                    return Err(
                        self.err("print takes a format and at most 3 values (bpf_trace_printk)")
                    );
                }
                // The kernel refuses a format byte that is not printable ASCII or whitespace
                // (bpf_bprintf_prepare, kernel/bpf/helpers.c): the call would print nothing.
                let printable = |b: u8| b.is_ascii_graphic() || matches!(b, b' ' | b'\t'..=b'\r');
                if let Some((i, b)) = fmt.iter().enumerate().find(|(_, b)| !printable(**b)) {
                    return Err(self
                        .err(format!(
                            "print: byte {i} of the format is \\x{b:02x}; the kernel prints only formats of printable ASCII and whitespace (bpf_trace_printk refuses others and prints nothing)"
                        ))
                        .hint("print other bytes as numbers, e.g. print('byte %d', b)"));
                }
                let mut vals = Vec::new();
                for i in 1..nargs {
                    let o = self.operand(arg(self, i))?;
                    vals.push(match o.k {
                        Some(k) => Arg::Imm(k),
                        None => Arg::Reg(self.reg_of(o)),
                    });
                }
                let off = self.string_on_stack(pc, &fmt)?;
                let mut args = vec![Arg::Stack(off), Arg::Imm(fmt.len() as i64 + 1)];
                args.extend(vals);
                self.call_helper(Helper::TracePrintk, &args);
                Ok(Val::K(Const::Nil))
            }
        }
    }

    pub(super) fn ctype_arg(&self, v: Val) -> LResult<CType> {
        let name = match v {
            Val::K(Const::CType(n)) => n,
            Val::K(Const::Str(n)) => String::from_utf8_lossy(&n).into_owned(),
            other => return Err(self.err(format!("expected a C type, got {}", other.describe()))),
        };
        self.env
            .ctypes
            .parse_type(&name)
            .map_err(|e| self.err(format!("unknown C type `{name}`: {}", e.message)))
    }
}
