//! Map helpers and stack buffers for keys, values, events and strings.

use super::*;

impl<'a> Lowerer<'a> {
    pub(super) fn map(&self, id: u32) -> LResult<&'a MapView> {
        self.env
            .maps
            .get(id as usize)
            .ok_or_else(|| self.err("internal error: unknown map"))
    }

    /// Reserves the shared call buffer: `size` bytes at its `at` offset (8-byte aligned);
    /// returns the r10 offset. The region is also a stack object of its own (`mir::slots`
    /// lets it share bytes with objects that are not live at the same time).
    pub(super) fn scratch(&mut self, at: u32, size: u32) -> i32 {
        self.scratch_need = self.scratch_need.max(at + align8(size));
        self.scratch_regions.insert((at, size.max(1)));
        self.scratch_base - at as i32
    }

    /// Puts a key or value into memory for a map helper and returns its stack offset.
    pub(super) fn buffer(&mut self, at: u32, ty: &CType, val: Val, what: &str) -> LResult<i32> {
        if let Val::Stack { off, ty: vty } = &val {
            if vty.size() == ty.size() && vty.c_name() == ty.c_name() {
                return Ok(*off);
            }
            return Err(self.err(format!(
                "wrong {what} type: the map wants {}, got {}",
                ty.c_name(),
                vty.c_name()
            )));
        }
        if scalar_ty(ty).is_none() {
            let hint = if what == "key" {
                format!("local k = ffi.new('{}'); k.field = ...; m[k]", ty.c_name())
            } else {
                format!(
                    "local v = ffi.new('{}'); v.field = ...; m[k] = v",
                    ty.c_name()
                )
            };
            return Err(self
                .err(format!(
                    "the map's {what} is a {}: pass an ffi.new object of that type",
                    ty.c_name()
                ))
                .hint(hint));
        }
        if let Val::K(Const::Bool(_)) | Val::Rt { ty: Ty::Bool, .. } = val {
            if *ty != CType::Bool {
                return Err(self.err(format!(
                    "a boolean cannot be used as a map {what} of type {}",
                    ty.c_name()
                )));
            }
        }
        let off = self.scratch(at, ty.size());
        self.store_to(Base::Stack(off), 0, ty, val)?;
        Ok(off)
    }

    pub(super) fn map_lookup(&mut self, id: u32, key: Val) -> LResult<Val> {
        let m = self.map(id)?;
        if !m.kind.has_elements() {
            return Err(self.err(format!(
                "map `{}` of type {} cannot be read with m[k]",
                m.name, m.kind
            )));
        }
        let koff = self.buffer(0, &m.key, key, "key")?;
        let r = self.call_helper(Helper::MapLookupElem, &[Arg::Map(id), Arg::Stack(koff)]);
        Ok(Val::MapPtr {
            v: r,
            map: id,
            ty: m.value.clone(),
            nullable: true,
        })
    }

    pub(super) fn map_update(&mut self, id: u32, key: Val, val: Val) -> LResult<()> {
        let m = self.map(id)?;
        if !m.kind.has_elements() {
            return Err(self.err(format!(
                "map `{}` of type {} cannot be assigned with m[k] = v",
                m.name, m.kind
            )));
        }
        let koff = self.buffer(0, &m.key, key, "key")?;
        if val == Val::K(Const::Nil) {
            if !m.kind.can_delete() {
                return Err(self
                    .err(format!("cannot delete from array map `{}`", m.name))
                    .hint("store 0 instead"));
            }
            self.call_helper(Helper::MapDeleteElem, &[Arg::Map(id), Arg::Stack(koff)]);
            return Ok(());
        }
        let voff = match &val {
            Val::MapPtr {
                v,
                ty,
                nullable: false,
                ..
            } if scalar_ty(ty).is_none() => {
                // A struct value from another lookup: pass its pointer.
                let v = *v;
                self.call_helper(
                    Helper::MapUpdateElem,
                    &[Arg::Map(id), Arg::Stack(koff), Arg::Reg(v), Arg::Imm(0)],
                );
                return Ok(());
            }
            _ => self.buffer(align8(m.key.size()), &m.value, val, "value")?,
        };
        self.call_helper(
            Helper::MapUpdateElem,
            &[
                Arg::Map(id),
                Arg::Stack(koff),
                Arg::Stack(voff),
                Arg::Imm(0),
            ],
        );
        Ok(())
    }

    /// A stack object (or a field or element of one) to write into: its offset and size.
    pub(super) fn stack_buffer(&mut self, v: Val, what: &str) -> LResult<(i32, u32)> {
        match v {
            Val::Stack { off, ty } => Ok((off, ty.size())),
            Val::Ref {
                base: Base::Stack(o),
                off,
                ty,
            } => Ok((o - off, ty.size())),
            other => Err(self.err(format!(
                "{what}: the destination must be an ffi.new object or a field of one, not {}",
                other.describe()
            ))),
        }
    }

    /// A perf or ring buffer map carries one event type; remember it for the bindings.
    pub(super) fn record_event(&mut self, map: u32, ty: &CType) -> LResult<()> {
        match self.events.get(&map) {
            Some(t) if t != ty => Err(self.err(format!(
                "map `{}` already carries events of type {}, not {}",
                self.map(map)?.name,
                t.c_name(),
                ty.c_name()
            ))),
            _ => {
                self.events.insert(map, ty.clone());
                Ok(())
            }
        }
    }

    /// The stack object of `size` bytes made by the instruction at `pc`: one per site, the same
    /// in both lowering passes and on every run of a loop. Returns its offset below r10.
    pub(super) fn stack_object(&mut self, pc: usize, size: u32) -> i32 {
        if let Some(off) = self.objects.get(&pc) {
            return *off;
        }
        self.objects_top += size as i32;
        self.objects.insert(pc, self.objects_top);
        self.object_sizes.insert(pc, size);
        self.objects_top
    }

    /// A NUL-terminated string in a stack object made for the call at `pc`.
    pub(super) fn string_on_stack(&mut self, pc: usize, bytes: &[u8]) -> LResult<i32> {
        let size = align8(bytes.len() as u32 + 1);
        let off = self.stack_object(pc, size);
        if off as u32 > MAX_STACK {
            return Err(self.err(format!(
                "this string needs {size} bytes of stack; BPF allows {MAX_STACK} in all"
            )));
        }
        let mut padded = bytes.to_vec();
        padded.resize(size as usize, 0);
        for (i, chunk) in padded.chunks(4).enumerate() {
            let imm = i32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            self.e(Insn::St {
                size: Size::W,
                dst: R::P(Reg::R10),
                off: (i as i32 * 4 - off) as i16,
                imm,
            });
        }
        Ok(off)
    }
}
