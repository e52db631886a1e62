//! Names and memory: globals, fields of the context, stack objects, map values and
//! pointers; stores.

use ljbpf_core::program::verdict;

use super::*;

impl<'a> Lowerer<'a> {
    /// The address of an object in memory (a stack object, a map value, an array or struct
    /// field of one, the record's arrays), as C would decay it to a pointer; `None` for values
    /// that are not objects.
    pub(super) fn address_of(&mut self, v: &Val) -> Option<(VReg, CType)> {
        let (base, off, ty) = match v {
            Val::Stack { off, ty } => (R::P(Reg::R10), -off, ty.clone()),
            Val::MapPtr {
                v,
                ty,
                nullable: false,
                ..
            } => (R::V(*v), 0, ty.clone()),
            Val::Ref { base, off, ty } if matches!(ty, CType::Array(..) | CType::Struct(_)) => {
                let (r, o) = match base {
                    Base::Ctx => (R::P(Reg::R6), *off),
                    Base::Stack(s) => (R::P(Reg::R10), off - s),
                    Base::Map(m) => (R::V(*m), *off),
                    // No address that is valid on every path (the index may be out of range).
                    Base::Elem(_) | Base::Checked(_) => return None,
                };
                (r, o, ty.clone())
            }
            Val::Ptr { v, pointee } => return Some((*v, pointee.clone())),
            _ => return None,
        };
        let t = self.tmp();
        self.e(Insn::Alu64 {
            op: AluOp::Mov,
            dst: R::V(t),
            src: Src::Reg(base),
        });
        if off != 0 {
            let add = Insn::Alu64 {
                op: AluOp::Add,
                dst: R::V(t),
                src: Src::Imm(off),
            };
            if matches!(
                v,
                Val::Ref {
                    base: Base::Ctx,
                    ..
                }
            ) {
                self.e_ctx(add, off);
            } else {
                self.e(add);
            }
        }
        Some((t, ty))
    }

    /// `ty` with a struct only named so far made whole: by the file's `ffi.cdef`, else (in
    /// BTF-typed programs) by the kernel's BTF, one level deep.
    pub(super) fn resolve(&self, ty: &CType) -> CType {
        let ty = self.env.ctypes.resolve(ty);
        match (&ty, self.env.kernel_btf) {
            (CType::Opaque { name, is_union }, Some(btf)) => {
                crate::kernel::funcs::struct_type(btf, name, *is_union).unwrap_or(ty)
            }
            _ => ty,
        }
    }

    /// A global name inside a program function (the names [`GLOBALS`] lists).
    pub(super) fn global(&self, name: &str) -> LResult<Val> {
        Ok(match name {
            "xadd" => Val::Fn(Builtin::Xadd),
            "time" => Val::Fn(Builtin::Time),
            "cpu" => Val::Fn(Builtin::Cpu),
            "pid_tgid" => Val::Fn(Builtin::PidTgid),
            "uid_gid" => Val::Fn(Builtin::UidGid),
            "comm" => Val::Fn(Builtin::Comm),
            "rand" => Val::Fn(Builtin::Rand),
            "ntoh" => Val::Fn(Builtin::Ntoh),
            "hton" => Val::Fn(Builtin::Hton),
            "print" => Val::Fn(Builtin::Print),
            "bit" | "ffi" | "math" => Val::K(Const::Lib(name.to_string())),
            "skb" if self.context() == Context::Skb => Val::Ctx,
            "skb" => {
                return Err(self
                    .err("`skb` is only available in socket filters, tc and cgroup skb programs"));
            }
            "pkt" | "eth" => {
                let hdr = match (self.env.kind.class().packet(), name) {
                    (PacketAccess::LdAbs | PacketAccess::DirectL2, _) => Hdr::Eth,
                    (PacketAccess::DirectL3, "pkt") => Hdr::Net,
                    (PacketAccess::DirectL3, _) => {
                        return Err(self
                            .err("cgroup skb programs see packets from the IP header on: there is no `eth`")
                            .hint("use pkt.ip or pkt.ip6"));
                    }
                    (PacketAccess::None, _) => {
                        return Err(self.err(format!(
                            "`{name}` is only available in programs that see packets (socket filters, XDP, tc, cgroup skb)"
                        )));
                    }
                };
                Val::Pkt {
                    hdr,
                    off: 0,
                    dynoff: None,
                }
            }
            "perf_submit" => Val::Fn(Builtin::PerfSubmit),
            "ringbuf_output" => Val::Fn(Builtin::RingbufOutput),
            "stack_id" => Val::Fn(Builtin::StackId),
            "load_bytes" if self.context() == Context::Skb => Val::Fn(Builtin::LoadBytes),
            "load_bytes" => {
                return Err(self.err("`load_bytes` is only available in socket filters"))
            }
            "redirect" => Val::Fn(Builtin::Redirect),
            "redirect_map" => Val::Fn(Builtin::RedirectMap),
            "c" => Val::K(super::consts::protocol()),
            "BPF" => Val::K(super::consts::bpf_flags()),
            "pairs" | "ipairs" | "next" => {
                return Err(
                    self.err("`for ... in` iteration is not supported in program functions")
                );
            }
            _ if verdict(name).is_some() => {
                let Some((class, v)) = verdict(name) else {
                    unreachable!("checked by the guard")
                };
                if class != self.env.kind.class() {
                    return Err(self.err(format!(
                        "`{name}` is a verdict of {} programs, and this is a {} program",
                        class.constructor(),
                        self.env.kind.class().constructor()
                    )));
                }
                num(i64::from(v))
            }
            _ => {
                let maps = self.env.maps.iter().map(|m| m.name.as_str());
                let hint = match crate::diag::did_you_mean(GLOBALS.iter().copied().chain(maps), name) {
                    Some(near) => format!("{near} (program functions see builtins and the file's locals as upvalues)"),
                    None => "program functions see builtins (xadd, time, pid_tgid, comm, bit, ffi, ...) and the file's locals as upvalues".to_string(),
                };
                return Err(self
                    .err(format!("unknown global `{name}` in a program function"))
                    .hint(hint));
            }
        })
    }

    /// `obj.key`.
    pub(super) fn index_str(&mut self, obj: Val, key: &str) -> LResult<Val> {
        match obj {
            Val::K(Const::Lib(lib)) => {
                let b = match (lib.as_str(), key) {
                    ("bit", "band") => Builtin::BitBand,
                    ("bit", "bor") => Builtin::BitBor,
                    ("bit", "bxor") => Builtin::BitBxor,
                    ("bit", "bnot") => Builtin::BitBnot,
                    ("bit", "lshift") => Builtin::BitLshift,
                    ("bit", "rshift") => Builtin::BitRshift,
                    ("bit", "arshift") => Builtin::BitArshift,
                    ("bit", "tobit") => Builtin::BitTobit,
                    ("ffi", "new") => Builtin::FfiNew,
                    ("ffi", "sizeof") => Builtin::FfiSizeof,
                    ("ffi", "cast") => Builtin::FfiCast,
                    ("ffi", "copy") => Builtin::FfiCopy,
                    ("math", "log2") => Builtin::MathLog2,
                    ("math", "log10") => Builtin::MathLog10,
                    ("math", "log") => Builtin::MathLog,
                    ("ffi", "string" | "fill") => {
                        return Err(self.err(format!("`{lib}.{key}` is not supported yet")))
                    }
                    _ => {
                        return Err(self.err(format!(
                            "`{lib}.{key}` is not available in program functions"
                        )))
                    }
                };
                Ok(Val::Fn(b))
            }
            Val::K(Const::Table(fields)) => Ok(fields
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| Val::K(v.clone()))
                .unwrap_or(Val::K(Const::Nil))),
            Val::Ctx => self.ctx_field(key),
            Val::Stack { off, ty } => self.field(Base::Stack(off), 0, &ty, key),
            Val::MapPtr {
                v, ty, nullable, ..
            } => {
                if nullable {
                    return Err(self
                        .err(format!(
                            "this map value may be nil here, so `.{key}` may fail"
                        ))
                        .hint("guard it: `local v = m[k]; if v then ... v.field ... end`"));
                }
                self.field(Base::Map(v), 0, &ty, key)
            }
            Val::Ref { base, off, ty } => self.field(base, off, &ty, key),
            Val::Ptr { v, pointee } => {
                let pointee = self.resolve(&pointee);
                let reloc = self.kernel_field(&pointee, key);
                let Some(f) = pointee.field(key) else {
                    if let CType::Opaque { .. } = pointee {
                        return Err(self
                            .err(format!("{} is an incomplete type: its fields are unknown", pointee.c_name()))
                            .hint("declare the struct with ffi.cdef (the fields you read, at their kernel offsets)"));
                    }
                    return Err(self.no_field(&pointee, key));
                };
                if f.bits.is_some() {
                    return Err(self.err(format!("bit field `{key}` is not supported yet")));
                }
                self.deref(v, f.offset as i32, &f.ty, reloc)
            }
            Val::Pkt { hdr, off, dynoff } => self.pkt_index(hdr, off, dynoff, key),
            other => Err(self.err(format!(
                "attempt to index {} with `{key}`",
                other.describe()
            ))),
        }
    }

    /// "`ty` has no field `key`", with the nearest field names or all of them.
    fn no_field(&self, ty: &CType, key: &str) -> Diagnostic {
        let hint = match ty.as_struct() {
            Some(s) => {
                let names = s.field_names();
                let near = crate::diag::did_you_mean(names.iter().map(String::as_str), key);
                let all = format!("its fields are: {}", names.join(", "));
                match near {
                    Some(near) => format!("{near} ({all})"),
                    None => all,
                }
            }
            None => "only structs have fields".to_string(),
        };
        self.err(format!("{} has no field `{key}`", ty.c_name()))
            .hint(hint)
    }

    pub(super) fn field(&mut self, base: Base, off: i32, ty: &CType, key: &str) -> LResult<Val> {
        let Some(f) = ty.field(key) else {
            return Err(self.no_field(ty, key));
        };
        if f.bits.is_some() {
            return Err(self.err(format!("bit field `{key}` is not supported yet")));
        }
        Ok(Val::Ref {
            base,
            off: off + f.offset as i32,
            ty: f.ty.clone(),
        })
    }

    pub(super) fn ctx_field(&mut self, key: &str) -> LResult<Val> {
        match self.env.kind {
            ProgramKind::Tracepoint { category, name } => {
                let Some(tp) = self.env.tracepoint else {
                    return Err(self.err(format!("tracepoint {category}/{name} has no format")));
                };
                let Some(f) = tp.field(key) else {
                    return Err(self.err(tp.unknown_field_message(key)));
                };
                // The kernel hides the first 8 bytes of a tracepoint record from BPF
                // (kernel/trace/bpf_trace.c, tp_prog_is_valid_access).
                if f.offset < 8 {
                    return Err(self
                        .err(format!(
                            "field `{key}` (offset {}) is in the record header, which BPF programs cannot read",
                            f.offset
                        ))
                        .hint("use pid_tgid() for the pid and tgid"));
                }
                let ty = match f.kind {
                    TpFieldKind::Int => CType::Int {
                        size: f.size as u8,
                        signed: f.signed,
                        is_char: false,
                    },
                    // Kept as a pointer so that ffi.copy knows a `char *` is a string.
                    TpFieldKind::Pointer => CType::Pointer(Box::new(if f.decl.contains("char") {
                        CType::Int {
                            size: 1,
                            signed: false,
                            is_char: true,
                        }
                    } else {
                        CType::Void
                    })),
                    TpFieldKind::Array {
                        elem_size,
                        len,
                        elem_signed,
                        is_char,
                    } => CType::Array(
                        Box::new(CType::Int {
                            size: elem_size as u8,
                            signed: elem_signed,
                            is_char,
                        }),
                        len,
                    ),
                    TpFieldKind::DataLoc { is_char } | TpFieldKind::RelLoc { is_char } => {
                        return Ok(Val::DataLoc {
                            off: f.offset as i32,
                            rel: matches!(f.kind, TpFieldKind::RelLoc { .. }),
                            is_char,
                        });
                    }
                    TpFieldKind::Other => {
                        return Err(
                            self.err(format!("field `{key}` ({}) cannot be read yet", f.decl))
                        );
                    }
                };
                Ok(Val::Ref {
                    base: Base::Ctx,
                    off: f.offset as i32,
                    ty,
                })
            }
            ProgramKind::TpBtf { .. } | ProgramKind::Fentry { .. } => {
                let Some(args) = self.env.args else {
                    return Err(self.err("internal error: a BTF-typed program without arguments"));
                };
                let Some(arg) = args.get(key) else {
                    return Err(self.err(args.unknown_message(key)));
                };
                let off = arg.slot as i32 * 8;
                match &arg.ty {
                    // The verifier types the loaded pointer from BTF (PTR_TO_BTF_ID, or a
                    // scalar for `void *`, `char *` and other pointers to integers); fields
                    // behind it are read with probe-read, which any of them may be.
                    CType::Pointer(pointee) => {
                        let pointee = (**pointee).clone();
                        let v = self.tmp();
                        self.e(Insn::Ldx {
                            size: Size::DW,
                            dst: R::V(v),
                            src: R::P(Reg::R6),
                            off: off as i16,
                        });
                        Ok(Val::Ptr { v, pointee })
                    }
                    ty @ (CType::Int { .. } | CType::Bool) => Ok(Val::Ref {
                        base: Base::Ctx,
                        off,
                        ty: ty.clone(),
                    }),
                    _ => Err(self
                        .err(format!(
                            "argument `{key}` of {} is a {}, which cannot be read yet",
                            args.target, arg.c_type
                        ))
                        .hint("integer and pointer arguments can be read")),
                }
            }
            ProgramKind::SocketFilter { .. }
            | ProgramKind::Kprobe { .. }
            | ProgramKind::Uprobe { .. }
            | ProgramKind::RawTracepoint { .. }
            | ProgramKind::PerfEvent { .. }
            | ProgramKind::Xdp { .. }
            | ProgramKind::Tc { .. }
            | ProgramKind::CgroupSkb { .. } => {
                let context = self.context();
                match context.field(Arch::X86_64, key) {
                    Some(f) => Ok(Val::Ref {
                        base: Base::Ctx,
                        off: f.offset as i32,
                        ty: CType::Int {
                            size: f.size as u8,
                            signed: false,
                            is_char: false,
                        },
                    }),
                    None if context == Context::Skb => Err(self
                        .err(format!(
                            "{} has no field `{key}` readable by ljbpf programs",
                            context.c_name()
                        ))
                        .hint(format!(
                            "its fields are: {}",
                            context.field_names(Arch::X86_64).join(", ")
                        ))),
                    None if context == Context::XdpMd => Err(self
                        .err(format!("{} has no field `{key}`", context.c_name()))
                        .hint("its fields are ingress_ifindex and rx_queue_index; read the packet with pkt")),
                    None => Err(self
                        .err(format!("{} has no field `{key}`", context.c_name()))
                        .hint(format!(
                            "its fields are: {}",
                            context.field_names(Arch::X86_64).join(", ")
                        ))),
                }
            }
        }
    }

    /// The CO-RE relocation of reading member `key` of `ty`, when `ty` is a kernel struct from
    /// BTF (named, not declared by the file's `ffi.cdef`) and `key` one of its own members
    /// (members of anonymous inner structs and unions are read at the build kernel's offset).
    fn kernel_field(&self, ty: &CType, key: &str) -> Option<Reloc> {
        self.env.kernel_btf?;
        let CType::Struct(def) = ty else { return None };
        let root = def.name.as_ref()?;
        if self.env.ctypes.struct_by_tag(root).is_some() {
            return None;
        }
        let f = def
            .fields
            .iter()
            .find(|f| f.name == key && f.bits.is_none())?;
        Some(Reloc::KernelField {
            root: root.clone(),
            is_union: def.is_union,
            size: def.size,
            member: key.to_string(),
            offset: f.offset,
            ty: f.ty.clone(),
        })
    }

    /// What `*(T *)(ptr + off)` gives: a scalar read with probe-read, a pointer to follow, or
    /// the address of an inner struct or array. With `reloc`, `off` is a kernel struct
    /// member's offset: the addition is always emitted (even of 0) and carries the relocation.
    pub(super) fn deref(
        &mut self,
        ptr: VReg,
        off: i32,
        ty: &CType,
        reloc: Option<Reloc>,
    ) -> LResult<Val> {
        let addr = if off == 0 && reloc.is_none() {
            ptr
        } else {
            let t = self.tmp();
            self.mov(t, ptr);
            let add = Insn::Alu64 {
                op: AluOp::Add,
                dst: R::V(t),
                src: Src::Imm(off),
            };
            self.code.insns.push(Rec {
                insn: add,
                line: self.line,
                reloc,
            });
            t
        };
        let ty = self.resolve(ty);
        match &ty {
            CType::Struct(_) | CType::Array(..) => Ok(Val::Ptr {
                v: addr,
                pointee: ty,
            }),
            CType::Pointer(_) | CType::Int { .. } | CType::Bool => {
                let size = ty.size();
                let buf = self.scratch(0, size);
                let helper = if self.env.kind.class().memory() == Memory::User {
                    Helper::ProbeReadUser
                } else {
                    Helper::ProbeReadKernel
                };
                self.call_helper(
                    helper,
                    &[Arg::Stack(buf), Arg::Imm(i64::from(size)), Arg::Reg(addr)],
                );
                let o = self.load(Base::Stack(buf), 0, &ty)?;
                let v = self.reg_of(o);
                match ty {
                    CType::Pointer(p) => Ok(Val::Ptr {
                        v,
                        pointee: self.resolve(&p),
                    }),
                    _ => Ok(Val::Rt {
                        v,
                        ty: o.ty,
                        width: o.width,
                    }),
                }
            }
            other => Err(self.err(format!(
                "cannot read a value of type {} through a pointer",
                other.c_name()
            ))),
        }
    }

    /// `obj[key]` for a non-string key.
    pub(super) fn index(&mut self, obj: Val, key: Val) -> LResult<Val> {
        match obj {
            Val::Ptr { v, pointee } => {
                // p[i]: element i of what p points at (an array or a single object).
                let elem = match &pointee {
                    CType::Array(e, _) => (**e).clone(),
                    other => other.clone(),
                };
                let i = self.operand(key)?;
                let Some(i) = i.k else {
                    return Err(self.err("pointers can only be indexed by constants yet"));
                };
                let off = i32::try_from(i * i64::from(elem.size()))
                    .map_err(|_| self.err("pointer index out of range"))?;
                self.deref(v, off, &elem, None)
            }
            Val::K(Const::Map(id)) => self.map_lookup(id, key),
            Val::K(Const::Table(fields)) => {
                let k = match &key {
                    Val::K(Const::Num(n)) => n.to_string(),
                    _ => {
                        return Err(
                            self.err("a compile-time table can only be indexed by constants")
                        )
                    }
                };
                Ok(fields
                    .iter()
                    .find(|(x, _)| *x == k)
                    .map(|(_, v)| Val::K(v.clone()))
                    .unwrap_or(Val::K(Const::Nil)))
            }
            Val::Ref { base, off, ty } => self.element(base, off, &ty, key),
            Val::Stack { off, ty } => self.element(Base::Stack(off), 0, &ty, key),
            Val::MapPtr {
                v,
                ty,
                nullable: false,
                ..
            } => self.element(Base::Map(v), 0, &ty, key),
            Val::Pkt {
                hdr: _,
                off,
                dynoff,
            } => {
                // d[i]: a constant index folds into the offset, a run-time one into LD_IND's
                // index register.
                let moved = self.pkt_add(
                    Val::Pkt {
                        hdr: Hdr::Data,
                        off,
                        dynoff,
                    },
                    key,
                )?;
                let Val::Pkt { off, dynoff, .. } = moved else {
                    return Err(self.err("internal error: moved dissector"));
                };
                let v = self.pkt_load(off, 1, dynoff)?;
                Ok(Val::Rt {
                    v,
                    ty: Ty::Num,
                    width: 1,
                })
            }
            other => Err(self.err(format!("attempt to index {}", other.describe()))),
        }
    }

    pub(super) fn element(&mut self, base: Base, off: i32, ty: &CType, key: Val) -> LResult<Val> {
        let o = self.operand(key)?;
        // A map value is a pointer: `v[0]` is the value itself, as for an ffi pointer (so at a
        // run-time index, an array of one element).
        if let (Base::Map(_), 0, Some(_)) = (&base, off, scalar_ty(ty)) {
            match o.k {
                Some(0) => {
                    return Ok(Val::Ref {
                        base,
                        off,
                        ty: ty.clone(),
                    })
                }
                None => {
                    return self.element_at(base, off, &CType::Array(Box::new(ty.clone()), 1), o)
                }
                Some(_) => {}
            }
        }
        let CType::Array(elem, len) = ty else {
            return Err(self.err(format!(
                "attempt to index a value of type {} with a number",
                ty.c_name()
            )));
        };
        let Some(i) = o.k else {
            return self.element_at(base, off, ty, o);
        };
        if i < 0 || (*len > 0 && i >= i64::from(*len)) {
            // The context's layout is fixed: an index past one of its arrays is a mistake.
            // Elsewhere a constant index out of range has the run-time rule (docs/indexes.md).
            if *base.root() == Base::Ctx {
                return Err(self.err(format!("index {i} is out of bounds of {}", ty.c_name())));
            }
            return self.element_at(base, off, ty, o);
        }
        Ok(Val::Ref {
            base,
            off: off + (i as i32) * elem.size() as i32,
            ty: (**elem).clone(),
        })
    }

    /// Writes `val` into a stack buffer of C type `ty` at `r10 - off` (scalars and copies).
    pub(super) fn store_to(&mut self, base: Base, off: i32, ty: &CType, val: Val) -> LResult<()> {
        if *base.root() == Base::Ctx {
            return Err(self.err("the program context is read-only"));
        }
        if scalar_ty(ty).is_none() {
            return Err(self.err(format!(
                "cannot assign to a value of type {} as a whole yet",
                ty.c_name()
            )));
        }
        let size = Size::from_bytes(ty.size()).ok_or_else(|| self.err("unsupported field size"))?;
        let o = match val {
            Val::K(Const::Nil) => return Err(self.err("cannot store nil into a field")),
            Val::K(Const::Bool(b)) => Opnd {
                k: Some(i64::from(b)),
                v: None,
                ty: Ty::Bool,
                width: 0,
            },
            v => self.operand(v)?,
        };
        if o.ty == Ty::Bool && *ty != CType::Bool {
            return Err(self.err(format!(
                "cannot store a boolean into a field of type {}",
                ty.c_name()
            )));
        }
        // An element at a run-time index is written only when the index is in range.
        let skip = base.checked().then(|| self.code.label());
        let src = match o.k {
            Some(k) if i32::try_from(k).is_ok() => None,
            _ => Some(self.reg_of(o)),
        };
        let (dst, off) = self.place(&base, off, skip)?;
        let off16 = i16::try_from(off).map_err(|_| self.err("offset is too large"))?;
        match (o.k, src) {
            (Some(k), None) => {
                self.e(Insn::St {
                    size,
                    dst,
                    off: off16,
                    imm: k as i32,
                });
            }
            (_, r) => {
                let r = r.unwrap_or_else(|| self.reg_of(o));
                self.e(Insn::Stx {
                    size,
                    dst,
                    src: R::V(r),
                    off: off16,
                });
            }
        }
        if let Some(skip) = skip {
            self.code.bind(skip);
        }
        Ok(())
    }

    pub(super) fn store_str(&mut self, obj: Val, key: &str, val: Val) -> LResult<()> {
        let target = match obj {
            Val::Pkt { hdr, off, dynoff } => {
                let Some(f) = hdr.field(key) else {
                    return Err(self.err(format!("the {} header has no field `{key}`", hdr.name())));
                };
                if f.bits.is_some() {
                    return Err(self
                        .err(format!(
                            "cannot assign bit field `{key}` of the {} header",
                            hdr.name()
                        ))
                        .hint("write the whole byte with d[i] = v"));
                }
                return self.packet_write(off + f.off, f.size, dynoff, val);
            }
            Val::Ctx => {
                return Err(self.err(format!(
                    "cannot assign `{key}`: the program context is read-only"
                )))
            }
            o @ (Val::Stack { .. } | Val::MapPtr { .. } | Val::Ref { .. }) => {
                self.index_str(o, key)?
            }
            other => {
                return Err(self.err(format!(
                    "attempt to assign field `{key}` of {}",
                    other.describe()
                )))
            }
        };
        self.store_ref(target, val)
    }

    pub(super) fn store_ref(&mut self, target: Val, val: Val) -> LResult<()> {
        match target {
            Val::Ref { base, off, ty } => self.store_to(base, off, &ty, val),
            other => Err(self.err(format!("cannot assign to {}", other.describe()))),
        }
    }

    pub(super) fn store(&mut self, obj: Val, key: Val, val: Val) -> LResult<()> {
        match obj {
            Val::Pkt { off, dynoff, .. } => {
                // d[i] = v: one byte, as d[i] reads one.
                let moved = self.pkt_add(
                    Val::Pkt {
                        hdr: Hdr::Data,
                        off,
                        dynoff,
                    },
                    key,
                )?;
                let Val::Pkt { off, dynoff, .. } = moved else {
                    return Err(self.err("internal error: moved dissector"));
                };
                self.packet_write(off, 1, dynoff, val)
            }
            Val::K(Const::Map(id)) => self.map_update(id, key, val),
            o @ (Val::Stack { .. } | Val::Ref { .. } | Val::MapPtr { .. }) => {
                let target = self.index(o, key)?;
                self.store_ref(target, val)
            }
            other => Err(self.err(format!(
                "attempt to assign an element of {}",
                other.describe()
            ))),
        }
    }
}

/// Every global name a program function may use (what [`Lowerer::global`] resolves, in some
/// program kind or other): the candidates of "did you mean" for an unknown one.
pub(super) const GLOBALS: &[&str] = &[
    "xadd",
    "time",
    "cpu",
    "pid_tgid",
    "uid_gid",
    "comm",
    "rand",
    "ntoh",
    "hton",
    "print",
    "bit",
    "ffi",
    "math",
    "skb",
    "pkt",
    "eth",
    "perf_submit",
    "ringbuf_output",
    "stack_id",
    "load_bytes",
    "c",
    "BPF",
];
