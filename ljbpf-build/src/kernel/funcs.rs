//! Function prototypes and kernel struct types from BTF, for the BTF-typed program kinds.
//!
//! A `tp_btf` program's context is the argument list of the tracepoint's `btf_trace_<name>`
//! typedef (a pointer to a FUNC_PROTO whose first parameter is the tracepoint's `void *__data`,
//! which the program does not see: include/trace/bpf_probe.h); an `fentry`/`fexit` program's is
//! the FUNC_PROTO of the kernel function, and fexit adds the return value after the arguments
//! (kernel/bpf/btf.c, `btf_ctx_access`). Each argument takes one 8-byte slot.
//!
//! Kernel structs reached through pointer arguments become [`CType`]s one level at a time
//! ([`struct_type`]): a pointer to a named struct stays [`CType::Opaque`] until the program
//! reads a field through it, so `task_struct`'s web of pointers is never converted whole.

use std::rc::Rc;

use ljbpf_core::program::ProgramClass;

use super::btf::{Btf, Kind, INT_BOOL, INT_SIGNED, MAX_DEPTH};
use super::events::BtfEvents;
use crate::ctype::{CType, Field, StructDef};

/// One argument of a BTF-typed program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arg {
    /// Its name in the prototype (`argN` when BTF has none).
    pub name: String,
    /// Its type as the compiler models it.
    pub ty: CType,
    /// Its type as the kernel source spells it, for messages.
    pub c_type: String,
    /// Its first 8-byte slot in the context: arguments take one slot each, a struct passed by
    /// value one per 8 bytes (kernel/bpf/btf.c, `get_ctx_arg_idx`).
    pub slot: u32,
}

/// The arguments a `tp_btf`, `fentry` or `fexit` program reads as `ctx.<name>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FuncArgs {
    /// What they are the arguments of, for messages (`fentry do_unlinkat`).
    pub target: String,
    /// In slot order.
    pub args: Vec<Arg>,
    /// fexit: the return value (the slot after the arguments'); `None` for void functions and
    /// other kinds.
    pub ret: Option<Arg>,
}

/// The prefix of the typedef BTF has for every tracepoint (include/trace/bpf_probe.h).
const TRACE_TYPEDEF_PREFIX: &str = "btf_trace_";

impl FuncArgs {
    /// The argument called `name` (the return value is `ret`).
    pub fn get(&self, name: &str) -> Option<&Arg> {
        self.args
            .iter()
            .chain(self.ret.as_ref())
            .find(|a| a.name == name)
    }

    /// "`ctx` of fentry do_unlinkat has no field `x`; its fields are: dfd (int), ..."
    pub fn unknown_message(&self, name: &str) -> String {
        let all: Vec<String> = self
            .args
            .iter()
            .chain(self.ret.as_ref())
            .map(|a| format!("{} ({})", a.name, a.c_type))
            .collect();
        let list = if all.is_empty() {
            "it has no arguments".to_string()
        } else {
            let names = self
                .args
                .iter()
                .chain(self.ret.as_ref())
                .map(|a| a.name.as_str());
            let near = crate::diag::did_you_mean(names, name)
                .map(|near| format!("{near} "))
                .unwrap_or_default();
            format!("{near}its fields are: {}", all.join(", "))
        };
        format!("`ctx` of {} has no field `{name}`; {list}", self.target)
    }
}

/// The arguments of tracepoint `name` as a `tp_btf` program sees them.
pub fn tracepoint_args(events: &BtfEvents, name: &str) -> Result<FuncArgs, String> {
    let btf = events.btf();
    let typedef = format!("{TRACE_TYPEDEF_PREFIX}{name}");
    let proto = btf
        .find(&typedef, |k| matches!(k, Kind::Typedef { .. }))
        .and_then(|id| btf.skip_aliases(id).ok())
        .and_then(|id| match btf.get(id).map(|t| &t.kind) {
            Some(Kind::Ptr { type_id }) => Some(*type_id),
            _ => None,
        });
    let Some(proto) = proto else {
        let mut near: Vec<String> = names_with_prefix(btf, TRACE_TYPEDEF_PREFIX)
            .into_iter()
            .map(|n| n[TRACE_TYPEDEF_PREFIX.len()..].to_string())
            .collect();
        near.retain(|n| shares_prefix(n, name));
        return Err(not_found(
            format!("the kernel's BTF has no tracepoint `{name}` (no typedef {typedef})"),
            crate::diag::closest(near, name),
        ));
    };
    let mut args = params(
        btf,
        proto,
        &format!("{} {name}", ProgramClass::TpBtf.name()),
    )?;
    // The first parameter is the probe's `void *__data`, not a tracepoint argument.
    if args.args.is_empty() {
        return Err(format!(
            "BTF typedef {typedef} has no `void *__data` parameter"
        ));
    }
    args.args.remove(0);
    for a in &mut args.args {
        a.slot -= 1;
    }
    // The typedef's prototype has no parameter names; the event's functions do.
    if let Some(names) = events.tracepoint_param_names(name) {
        if names.len() == args.args.len() {
            for (a, n) in args.args.iter_mut().zip(names) {
                a.name = n;
            }
        }
    }
    if let Some(r) = &mut args.ret {
        r.slot -= 1;
    }
    Ok(args)
}

/// The arguments (and with `ret`, the return value) of kernel function `name`.
pub fn function_args(btf: &Btf, name: &str, ret: bool) -> Result<FuncArgs, String> {
    let kind = if ret {
        ProgramClass::Fexit
    } else {
        ProgramClass::Fentry
    }
    .name();
    let Some((proto, _)) = btf.func_proto(name) else {
        let near: Vec<String> = btf_func_names(btf)
            .into_iter()
            .filter(|n| shares_prefix(n, name))
            .collect();
        return Err(not_found(
            format!("the kernel's BTF has no function `{name}`"),
            crate::diag::closest(near, name),
        ));
    };
    let mut args = params(btf, proto, &format!("{kind} {name}"))?;
    if !ret {
        args.ret = None;
    }
    Ok(args)
}

/// The struct or union called `name` in the kernel's BTF, one level deep (pointers inside it
/// stay opaque), or `None`.
pub fn struct_type(btf: &Btf, name: &str, is_union: bool) -> Option<CType> {
    let id = btf.find(name, |k| {
        if is_union {
            matches!(k, Kind::Union { .. })
        } else {
            matches!(k, Kind::Struct { .. })
        }
    })?;
    Some(ctype(btf, id, 0))
}

fn params(btf: &Btf, proto: u32, target: &str) -> Result<FuncArgs, String> {
    let Some(Kind::FuncProto { ret, params }) = btf.get(proto).map(|t| &t.kind) else {
        return Err(format!(
            "BTF type {proto} of {target} is not a function prototype"
        ));
    };
    let mut args = Vec::new();
    let mut slot = 0;
    for (i, p) in params.iter().enumerate() {
        if p.type_id == 0 {
            return Err(format!(
                "{target} takes variable arguments (`...`), which BTF-typed programs cannot read"
            ));
        }
        let name = match btf.str_at(p.name_off) {
            "" => format!("arg{i}"),
            n => n.to_string(),
        };
        let a = arg(btf, name, p.type_id, slot);
        slot += a.ty.size().div_ceil(8).max(1);
        args.push(a);
    }
    if slot > ljbpf_core::context::MAX_ARGS {
        return Err(format!(
            "{target} has {slot} argument slots; BPF programs can read at most {}",
            ljbpf_core::context::MAX_ARGS
        ));
    }
    let ret = (*ret != 0).then(|| arg(btf, "ret".to_string(), *ret, slot));
    Ok(FuncArgs {
        target: target.to_string(),
        args,
        ret,
    })
}

fn arg(btf: &Btf, name: String, id: u32, slot: u32) -> Arg {
    Arg {
        slot,
        name,
        ty: ctype(btf, id, 0),
        c_type: btf.c_type(id).unwrap_or_else(|_| "?".into()),
    }
}

/// The compiler's model of BTF type `id`. What BPF code cannot use (floats, function
/// prototypes) becomes bytes or `void`, so reading it is an error at the Lua line.
fn ctype(btf: &Btf, id: u32, depth: u32) -> CType {
    let Ok(id) = btf.skip_aliases(id) else {
        return CType::Void;
    };
    if depth > MAX_DEPTH {
        return CType::Void;
    }
    let Some(t) = btf.get(id) else {
        return CType::Void;
    };
    let name = btf.str_at(t.name_off);
    match &t.kind {
        Kind::Int { encoding, .. } if encoding & INT_BOOL != 0 => CType::Bool,
        Kind::Int { size, encoding, .. } if matches!(size, 1 | 2 | 4 | 8) => CType::Int {
            size: *size as u8,
            signed: encoding & INT_SIGNED != 0,
            is_char: name == "char",
        },
        Kind::Enum { size, signed, .. } if matches!(size, 1 | 2 | 4 | 8) => CType::Int {
            size: *size as u8,
            signed: *signed,
            is_char: false,
        },
        Kind::Int { size, .. } | Kind::Enum { size, .. } | Kind::Float { size } => {
            CType::Array(Box::new(byte()), *size)
        }
        Kind::Ptr { type_id } => CType::Pointer(Box::new(pointee(btf, *type_id, depth))),
        Kind::Array { elem, len, .. } => CType::Array(Box::new(ctype(btf, *elem, depth + 1)), *len),
        Kind::Struct { size, members } | Kind::Union { size, members } => {
            let is_union = matches!(t.kind, Kind::Union { .. });
            let fields = members
                .iter()
                .map(|m| {
                    let ty = ctype(btf, m.type_id, depth + 1);
                    let bits = member_bits(btf, m.type_id, m.bitfield_size, m.bit_offset);
                    Field {
                        name: btf.str_at(m.name_off).to_string(),
                        offset: m.bit_offset / 8,
                        ty,
                        bits,
                    }
                })
                .collect::<Vec<Field>>();
            let nesting = 1 + fields.iter().map(|f| f.ty.depth()).max().unwrap_or(0);
            CType::Struct(Rc::new(StructDef {
                name: (!name.is_empty()).then(|| name.to_string()),
                typedef_name: None,
                is_union,
                fields,
                size: *size,
                align: 8,
                // Bounded by `depth` above (the BTF walk stops at its MAX_DEPTH).
                depth: nesting,
            }))
        }
        Kind::Fwd { is_union } => CType::Opaque {
            name: name.to_string(),
            is_union: *is_union,
        },
        _ => CType::Void,
    }
}

/// What a pointer points to: a named struct or union stays opaque (resolved when a field is
/// read through it); anything else is converted now.
fn pointee(btf: &Btf, id: u32, depth: u32) -> CType {
    let Ok(target) = btf.skip_aliases(id) else {
        return CType::Void;
    };
    match btf.get(target).map(|t| (&t.kind, btf.str_at(t.name_off))) {
        Some((Kind::Struct { .. } | Kind::Fwd { is_union: false }, name)) if !name.is_empty() => {
            CType::Opaque {
                name: name.to_string(),
                is_union: false,
            }
        }
        Some((Kind::Union { .. } | Kind::Fwd { is_union: true }, name)) if !name.is_empty() => {
            CType::Opaque {
                name: name.to_string(),
                is_union: true,
            }
        }
        Some((Kind::FuncProto { .. }, _)) | None => CType::Void,
        Some(_) => ctype(btf, target, depth + 1),
    }
}

/// A bitfield member's `(bit offset in its container, width)`; `None` for plain members.
fn member_bits(btf: &Btf, id: u32, bitfield_size: u8, bit_offset: u32) -> Option<(u8, u8)> {
    let width = if bitfield_size > 0 {
        bitfield_size
    } else {
        match btf.skip_aliases(id).ok().and_then(|i| btf.get(i)) {
            Some(t) => match t.kind {
                Kind::Int { size, bits, .. } if u32::from(bits) != size * 8 => bits,
                _ => return None,
            },
            None => return None,
        }
    };
    Some(((bit_offset % 8) as u8, width))
}

fn byte() -> CType {
    CType::Int {
        size: 1,
        signed: false,
        is_char: false,
    }
}

fn not_found(msg: String, near: Vec<String>) -> String {
    if near.is_empty() {
        msg
    } else {
        format!("{msg}; did you mean: {}?", near.join(", "))
    }
}

fn shares_prefix(a: &str, b: &str) -> bool {
    a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count() >= 3
}

fn names_with_prefix(btf: &Btf, prefix: &str) -> Vec<String> {
    (1..=btf.len())
        .filter_map(|id| {
            let t = btf.get(id)?;
            let n = btf.str_at(t.name_off);
            (matches!(t.kind, Kind::Typedef { .. }) && n.starts_with(prefix)).then(|| n.to_string())
        })
        .collect()
}

fn btf_func_names(btf: &Btf) -> Vec<String> {
    (1..=btf.len())
        .filter_map(|id| {
            let t = btf.get(id)?;
            matches!(t.kind, Kind::Func { .. }).then(|| btf.str_at(t.name_off).to_string())
        })
        .collect()
}
