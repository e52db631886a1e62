//! Tracepoint record layouts from BTF: the same [`TracepointFormat`] a tracefs `format` file
//! gives, without tracefs and without root.
//!
//! Where the kernel's BTF has each piece:
//!
//! * A trace event's record is `struct trace_event_raw_<class>` (include/trace/trace_events.h,
//!   stage 1: `TP_STRUCT__entry` becomes its members; `__data_loc_<item>` / `__rel_loc_<item>`
//!   u32 members for dynamic arrays and strings, and a trailing `char __data[]`). The first
//!   member `ent` is `struct trace_entry`, shown as the `common_*` fields
//!   (kernel/trace/trace_events.c, `trace_define_common_fields`).
//! * BTF does not say which class an event uses (DEFINE_EVENT(class, event) keeps the link in
//!   `__event_<event>.class`, data that BTF does not describe). What it has: the typedef
//!   `btf_trace_<event>`, a pointer to the event's probe prototype (include/trace/bpf_probe.h),
//!   and a FUNC `__bpf_trace_<class>` per class with the class's prototype. The prototypes of an
//!   event and its class must be compatible (trace_events.h `check_trace_callback_type_<event>`
//!   is a compile-time check), so the class is one whose prototype matches. An event that is its
//!   own class (TRACE_EVENT) has `trace_event_raw_<event>`; otherwise every matching class is a
//!   candidate, and when their records differ the error lists them: we never pick one.
//! * The element type of a dynamic array (`__data_loc char[] comm` for a `__string`, but also
//!   `u64[]`, `u8[]`, `cpumask_t`) is not in BTF: the record has a u32 descriptor, and
//!   `struct trace_event_data_offsets_<class>` has a u32 and a `const void *<item>_ptr_` for
//!   every kind alike (include/trace/stages/stage2_data_offsets.h). Such fields come out as
//!   `__data_loc void[] item` (read as raw bytes, never as a string), and
//!   [`is_incomplete`] tells the caller a format file would say more.
//! * Syscall events (`syscalls/sys_enter_<name>`) are `struct syscall_trace_enter` with each
//!   argument in one `unsigned long` (kernel/trace/trace_syscalls.c,
//!   `syscall_enter_define_fields`). Argument names and types are in BTF only when the
//!   compiler kept `__do_sys_<name>` out of line (include/linux/syscalls.h, SYSCALL_DEFINEx);
//!   otherwise they come from [`SYSCALL_TABLE`], used only for syscalls the BTF shows exist.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::btf::{Btf, BtfError, Kind};
use crate::tracepoint::{classify, TpField, TracepointFormat};

/// Argument declarations of every syscall with a tracepoint on Linux 6.18 x86-64, as the
/// kernel's `syscalls/sys_enter_*/format` files print them (one line a syscall: name, then
/// TAB-separated `type name` declarations). Regenerate with:
///
/// ```sh
/// cd /sys/kernel/tracing/events/syscalls && for d in sys_enter_*; do
///   printf '%s\t%s\n' "${d#sys_enter_}" "$(grep field: $d/format | grep -v 'common_\|__syscall_nr' \
///     | sed 's/^\tfield:\(.*\);\toffset.*/\1/' | paste -sd '\t')" | sed 's/\t$//'; done
/// ```
pub const SYSCALL_TABLE: &str = include_str!("syscalls.tsv");

/// The element type written for dynamic arrays, whose element type BTF does not have.
pub const UNKNOWN_ELEM: &str = "void";

/// Whether a layout from BTF has dynamic arrays of unknown element type (a tracefs format file
/// would say whether they are strings).
pub fn is_incomplete(format: &TracepointFormat) -> bool {
    format.fields.iter().any(|f| {
        f.decl.starts_with(&format!("__data_loc {UNKNOWN_ELEM}[] "))
            || f.decl.starts_with(&format!("__rel_loc {UNKNOWN_ELEM}[] "))
    })
}

/// Why BTF gave no layout for a tracepoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// BTF knows no tracepoint of that name.
    #[error("no tracepoint `{0}` in BTF")]
    NotFound(String),
    /// A tracepoint without a trace event (DECLARE_TRACE): no record layout exists.
    #[error(
        "`{0}` is a bare tracepoint (no trace event class in BTF has its prototype): it has no \
         record, only raw tracepoint arguments"
    )]
    NoClass(String),
    /// Several classes match and their records differ.
    #[error(
        "BTF cannot tell which event class `{event}` uses: the classes {} have its prototype \
         and different records",
        candidates.join(", ")
    )]
    Ambiguous {
        /// The event.
        event: String,
        /// The matching classes (sorted).
        candidates: Vec<String>,
    },
    /// A syscall event whose argument names BTF lacks and the built-in table does not have.
    #[error(
        "syscall `{0}` exists in BTF but its argument names do not (`__do_sys_{0}` was inlined) \
         and the built-in syscall table does not list it"
    )]
    NoSyscallArgs(String),
    /// The BTF has the types but they are not what the kernel source says.
    #[error("{event}: {message}")]
    Unexpected {
        /// The event.
        event: String,
        /// What was wrong.
        message: String,
    },
    /// A BTF walk failed.
    #[error(transparent)]
    Btf(#[from] BtfError),
}

/// Tracepoint layouts from one BTF, with the event-class index built once.
pub struct BtfEvents {
    btf: Btf,
    /// Canonical class prototype (parameters after `void *__data`) → (class name, parameter
    /// names) in id order.
    classes: BTreeMap<String, Vec<ClassProto>>,
}

/// An event class's name and its prototype's parameter names (comma-separated).
type ClassProto = (String, String);

const RAW_PREFIX: &str = "trace_event_raw_";
const CLASS_FUNC_PREFIX: &str = "__bpf_trace_";
const EVENT_TYPEDEF_PREFIX: &str = "btf_trace_";
/// Prefixes of syscall entry points that only exist for implemented syscalls:
/// `__do_sys_` (generic, include/linux/syscalls.h), the arch wrappers of
/// arch/*/include/asm/syscall_wrapper.h, and plain `sys_` on architectures without wrappers.
const SYSCALL_FUNC_PREFIXES: &[&str] = &[
    "__do_sys_",
    "__x64_sys_",
    "__arm64_sys_",
    "__riscv_sys_",
    "__s390x_sys_",
    "__powerpc_sys_",
    "__loongarch_sys_",
    "sys_",
];

impl BtfEvents {
    /// Indexes the event classes of `btf`.
    pub fn new(btf: Btf) -> BtfEvents {
        let mut classes: BTreeMap<String, Vec<ClassProto>> = BTreeMap::new();
        for id in 1..=btf.len() {
            let Some(t) = btf.get(id) else { continue };
            if !matches!(t.kind, Kind::Func { .. }) {
                continue;
            }
            let Some(class) = btf.str_at(t.name_off).strip_prefix(CLASS_FUNC_PREFIX) else {
                continue;
            };
            if btf.find_struct(&format!("{RAW_PREFIX}{class}")).is_none() {
                continue;
            }
            let func = format!("{CLASS_FUNC_PREFIX}{class}");
            if let Ok(key) = self_proto_key(&btf, &func) {
                let names = param_names(&btf, &func).unwrap_or_default();
                classes
                    .entry(key)
                    .or_default()
                    .push((class.to_string(), names));
            }
        }
        BtfEvents { btf, classes }
    }

    /// The BTF the layouts come from.
    pub fn btf(&self) -> &Btf {
        &self.btf
    }

    /// The layout of `category/name`. BTF does not record an event's category (TRACE_SYSTEM),
    /// so only `syscalls` is told apart (its events are not trace_event_raw records); any other
    /// category is taken as given and checked by the kernel at attach time.
    pub fn format(&self, category: &str, name: &str) -> Result<TracepointFormat, EventError> {
        let fields = if category == "syscalls" {
            self.syscall_fields(name)?
        } else {
            self.event_fields(name)?
        };
        Ok(TracepointFormat {
            category: category.to_string(),
            name: name.to_string(),
            id: None,
            fields,
        })
    }

    /// The parameter names of tracepoint `event`'s prototype after `void *__data` (the
    /// `btf_trace_<event>` typedef's prototype has none): from `__probestub_<event>` (which
    /// keeps the event's own names, Linux 6.4+), else the event's own class function
    /// (`TRACE_EVENT`), else the classes with the same prototype when they all agree.
    pub fn tracepoint_param_names(&self, event: &str) -> Option<Vec<String>> {
        let split = |names: String| -> Vec<String> {
            names.split(',').map(str::to_string).collect::<Vec<_>>()
        };
        let named =
            |n: &Option<String>| n.as_ref().is_some_and(|n| !n.split(',').any(str::is_empty));
        for func in [
            format!("__probestub_{event}"),
            format!("{CLASS_FUNC_PREFIX}{event}"),
        ] {
            let names = param_names(&self.btf, &func);
            if named(&names) {
                return names.map(split);
            }
        }
        let typedef = self
            .btf
            .find(&format!("{EVENT_TYPEDEF_PREFIX}{event}"), |k| {
                matches!(k, Kind::Typedef { .. })
            })?;
        let key = proto_key_of_pointer(&self.btf, typedef).ok()?;
        let classes = self.classes.get(&key)?;
        let first = &classes.first()?.1;
        (classes.iter().all(|(_, n)| n == first) && named(&Some(first.clone())))
            .then(|| split(first.clone()))
    }

    /// Event names BTF knows that share the longest prefix (at least 3 bytes) with `name`, for
    /// "did you mean" (sorted, at most 5).
    pub fn suggest(&self, category: &str, name: &str) -> Vec<String> {
        let mut cands: Vec<String> = Vec::new();
        for id in 1..=self.btf.len() {
            let n = self.btf.name(id);
            if category == "syscalls" {
                if let Some(sc) = n.strip_prefix("__x64_sys_").or(n.strip_prefix("__do_sys_")) {
                    for dir in ["sys_enter_", "sys_exit_"] {
                        cands.push(format!("{dir}{sc}"));
                    }
                }
            } else if let Some(ev) = n.strip_prefix(EVENT_TYPEDEF_PREFIX) {
                cands.push(ev.to_string());
            }
        }
        cands.sort();
        cands.dedup();
        crate::diag::closest(cands, name)
            .into_iter()
            .map(|c| format!("{category}/{c}"))
            .collect()
    }

    fn event_fields(&self, event: &str) -> Result<Vec<TpField>, EventError> {
        let btf = &self.btf;
        let typedef = btf
            .find(&format!("{EVENT_TYPEDEF_PREFIX}{event}"), |k| {
                matches!(k, Kind::Typedef { .. })
            })
            .ok_or_else(|| EventError::NotFound(event.to_string()))?;
        let key = proto_key_of_pointer(btf, typedef).map_err(|m| EventError::Unexpected {
            event: event.to_string(),
            message: m,
        })?;
        let matching = self.classes.get(&key).map(Vec::as_slice).unwrap_or(&[]);
        // TRACE_EVENT(e) is DECLARE_EVENT_CLASS(e) + DEFINE_EVENT(e, e): the event's own class.
        if matching.iter().any(|(c, _)| c == event) {
            return self.class_fields(event);
        }
        let mut layouts: Vec<(Vec<TpField>, Vec<&ClassProto>)> = Vec::new();
        for cand in matching {
            let fields = self.class_fields(&cand.0)?;
            match layouts.iter_mut().find(|(f, _)| *f == fields) {
                Some((_, names)) => names.push(cand),
                None => layouts.push((fields, vec![cand])),
            }
        }
        if layouts.len() > 1 {
            // More evidence: DEFINE_EVENT repeats the class's TP_PROTO, parameter names
            // included, and `__probestub_<event>` (include/linux/tracepoint.h) keeps the
            // event's names. Keep the layouts of classes whose names agree, if any do.
            if let Some(names) = param_names(btf, &format!("__probestub_{event}")) {
                let agree: Vec<_> = layouts
                    .iter()
                    .filter(|(_, cs)| cs.iter().any(|(_, n)| *n == names))
                    .cloned()
                    .collect();
                if !agree.is_empty() {
                    layouts = agree;
                }
            }
        }
        match layouts.len() {
            0 => Err(EventError::NoClass(event.to_string())),
            // Every remaining class has this very record: whichever it is, the layout is right.
            1 => Ok(layouts.swap_remove(0).0),
            _ => {
                let mut candidates: Vec<String> = layouts
                    .iter()
                    .flat_map(|(_, cs)| cs.iter().map(|(c, _)| c.clone()))
                    .collect();
                candidates.sort();
                Err(EventError::Ambiguous {
                    event: event.to_string(),
                    candidates,
                })
            }
        }
    }

    /// The fields of `struct trace_event_raw_<class>` as its format file lists them.
    fn class_fields(&self, class: &str) -> Result<Vec<TpField>, EventError> {
        let btf = &self.btf;
        let unexpected = |message: String| EventError::Unexpected {
            event: class.to_string(),
            message,
        };
        let raw = btf
            .find_struct(&format!("{RAW_PREFIX}{class}"))
            .ok_or_else(|| unexpected(format!("no struct {RAW_PREFIX}{class}")))?;
        let ms = members(btf, raw).ok_or_else(|| unexpected("record is not a struct".into()))?;
        let mut out = Vec::new();
        for (i, m) in ms.iter().enumerate() {
            let name = btf.str_at(m.name_off);
            if m.bit_offset % 8 != 0 || m.bitfield_size != 0 {
                return Err(unexpected(format!("member `{name}` is a bitfield")));
            }
            let offset = m.bit_offset / 8;
            if i == 0 {
                if name != "ent" {
                    return Err(unexpected(format!(
                        "first member is `{name}`, expected `ent` (struct trace_entry)"
                    )));
                }
                out.extend(self.common_fields(m.type_id)?);
                continue;
            }
            // The trailing `char __data[]` holds the dynamic arrays; it is not a field.
            if name == "__data" && i + 1 == ms.len() {
                continue;
            }
            let loc = [("__data_loc_", "__data_loc"), ("__rel_loc_", "__rel_loc")]
                .into_iter()
                .find_map(|(prefix, word)| name.strip_prefix(prefix).map(|item| (word, item)));
            if let Some((word, item)) = loc {
                // The element type is not in BTF (see the module docs): `void` says so, and
                // reads it as raw bytes. `signed:` of the u32 descriptor is 0 for every
                // element type the kernel has (is_signed_type of char, u8, u64, cpumask_t).
                out.push(field(
                    format!("{word} {UNKNOWN_ELEM}[] {item}"),
                    offset,
                    4,
                    false,
                )?);
                continue;
            }
            if name.is_empty() {
                return Err(unexpected(format!("member {i} has no name")));
            }
            out.push(self.member_field(name, m.type_id, offset)?);
        }
        Ok(out)
    }

    /// `struct trace_entry`'s members as `common_<member>` fields.
    fn common_fields(&self, entry: u32) -> Result<Vec<TpField>, EventError> {
        let btf = &self.btf;
        let id = btf.skip_aliases(entry)?;
        let ms = members(btf, id).ok_or_else(|| EventError::Unexpected {
            event: "trace_entry".into(),
            message: "not a struct".into(),
        })?;
        ms.iter()
            .map(|m| {
                let name = format!("common_{}", btf.str_at(m.name_off));
                self.member_field(&name, m.type_id, m.bit_offset / 8)
            })
            .collect()
    }

    /// A `__field`/`__array` member: declaration text, size and signedness as
    /// trace_events.h's `trace_event_fields_<class>` gives them (`#type`, `sizeof(type)`,
    /// `is_signed_type(type)`; for arrays the element's).
    fn member_field(&self, name: &str, ty: u32, offset: u32) -> Result<TpField, EventError> {
        let btf = &self.btf;
        let size = btf.size_of(ty)?;
        let (decl, signed) = match btf.get(btf.skip_aliases(ty)?).map(|t| &t.kind) {
            Some(Kind::Array { .. }) => {
                // Peel the dimensions: `type item[a][b]`.
                let mut dims = String::new();
                let mut elem = btf.skip_aliases(ty)?;
                for _ in 0..super::btf::MAX_DEPTH {
                    match btf.get(elem).map(|t| &t.kind) {
                        Some(Kind::Array { elem: e, len, .. }) => {
                            let _ = write!(dims, "[{len}]");
                            elem = *e;
                        }
                        _ => break,
                    }
                }
                (
                    format!("{} {name}{dims}", btf.c_type(elem)?),
                    btf.is_signed(elem)?,
                )
            }
            Some(Kind::Struct { .. } | Kind::Union { .. }) => {
                (format!("{} {name}", btf.c_type(ty)?), false)
            }
            _ => (format!("{} {name}", btf.c_type(ty)?), btf.is_signed(ty)?),
        };
        field(decl, offset, size, signed)
    }

    fn syscall_fields(&self, event: &str) -> Result<Vec<TpField>, EventError> {
        let btf = &self.btf;
        let (enter, sc) = if let Some(sc) = event.strip_prefix("sys_enter_") {
            (true, sc)
        } else if let Some(sc) = event.strip_prefix("sys_exit_") {
            (false, sc)
        } else {
            return Err(EventError::NotFound(event.to_string()));
        };
        let exists = SYSCALL_FUNC_PREFIXES.iter().any(|p| {
            btf.find(&format!("{p}{sc}"), |k| matches!(k, Kind::Func { .. }))
                .is_some()
        });
        if !exists || sc.is_empty() {
            return Err(EventError::NotFound(event.to_string()));
        }
        let unexpected = |message: String| EventError::Unexpected {
            event: event.to_string(),
            message,
        };
        let record = if enter {
            "syscall_trace_enter"
        } else {
            "syscall_trace_exit"
        };
        let id = btf
            .find_struct(record)
            .ok_or_else(|| unexpected(format!("no struct {record}")))?;
        let ms = members(btf, id).ok_or_else(|| unexpected(format!("{record}: not a struct")))?;
        let member = |n: &str| {
            ms.iter()
                .find(|m| btf.str_at(m.name_off) == n)
                .ok_or_else(|| unexpected(format!("{record} has no member `{n}`")))
        };
        let ent = member("ent")?;
        let mut out = self.common_fields(ent.type_id)?;
        // trace_syscalls.c names the `nr` member `__syscall_nr` (SYSCALL_FIELD).
        let nr = member("nr")?;
        out.push(self.member_field("__syscall_nr", nr.type_id, nr.bit_offset / 8)?);
        if !enter {
            let ret = member("ret")?;
            out.push(self.member_field("ret", ret.type_id, ret.bit_offset / 8)?);
            return Ok(out);
        }
        let args = member("args")?;
        let slot = match btf.get(btf.skip_aliases(args.type_id)?).map(|t| &t.kind) {
            Some(Kind::Array { elem, .. }) => btf.size_of(*elem)?,
            _ => return Err(unexpected(format!("{record}.args is not an array"))),
        };
        let mut offset = args.bit_offset / 8;
        for decl in self.syscall_args(sc)? {
            // Each argument fills one `unsigned long` slot, unsigned whatever its type
            // (trace_syscalls.c: `sizeof(unsigned long), 0`).
            out.push(field(decl, offset, slot, false)?);
            offset = offset
                .checked_add(slot)
                .ok_or_else(|| unexpected("argument offsets overflow".into()))?;
        }
        Ok(out)
    }

    /// `type name` of each argument of syscall `sc`: from `__do_sys_<sc>` when BTF has it,
    /// else from [`SYSCALL_TABLE`].
    fn syscall_args(&self, sc: &str) -> Result<Vec<String>, EventError> {
        let btf = &self.btf;
        if let Some((_, params)) = btf.func_proto(&format!("__do_sys_{sc}")) {
            // SYSCALL_DEFINE0 on architectures with syscall wrappers declares
            // `__do_sys_<name>(const struct pt_regs *__unused)` (arch/x86/include/asm/
            // syscall_wrapper.h): no arguments.
            if let [p] = params {
                if btf.str_at(p.name_off) == "__unused"
                    && btf.canonical(p.type_id)? == "struct pt_regs*"
                {
                    return Ok(Vec::new());
                }
            }
            return params
                .iter()
                .map(|p| {
                    Ok(format!(
                        "{} {}",
                        btf.c_type(p.type_id)?,
                        btf.str_at(p.name_off)
                    ))
                })
                .collect();
        }
        syscall_table_args(sc).ok_or_else(|| EventError::NoSyscallArgs(sc.to_string()))
    }
}

/// The argument declarations of `sc` in [`SYSCALL_TABLE`].
pub fn syscall_table_args(sc: &str) -> Option<Vec<String>> {
    SYSCALL_TABLE
        .lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let mut parts = l.split('\t');
            (parts.next() == Some(sc)).then(|| {
                parts
                    .filter(|p| !p.is_empty())
                    .map(str::to_string)
                    .collect()
            })
        })
}

/// Builds a field through the format-file classifier, so a BTF layout and a tracefs one give
/// the same [`crate::tracepoint::TpFieldKind`] for the same declaration.
fn field(decl: String, offset: u32, size: u32, signed: bool) -> Result<TpField, EventError> {
    let (name, kind) = classify(&decl, size, signed).map_err(|message| EventError::Unexpected {
        event: decl.clone(),
        message,
    })?;
    Ok(TpField {
        name,
        decl,
        offset,
        size,
        signed,
        kind,
    })
}

fn members(btf: &Btf, id: u32) -> Option<&[super::btf::Member]> {
    match &btf.get(id)?.kind {
        Kind::Struct { members, .. } => Some(members),
        _ => None,
    }
}

/// The parameter names (after `void *__data`) of the FUNC called `name`, comma-separated.
fn param_names(btf: &Btf, name: &str) -> Option<String> {
    let (_, params) = btf.func_proto(name)?;
    Some(
        params
            .iter()
            .skip(1)
            .map(|p| btf.str_at(p.name_off))
            .collect::<Vec<_>>()
            .join(","),
    )
}

/// The canonical parameter list (after `void *__data`) of the FUNC called `name`.
fn self_proto_key(btf: &Btf, name: &str) -> Result<String, String> {
    let (proto, _) = btf
        .func_proto(name)
        .ok_or_else(|| format!("no FUNC {name}"))?;
    proto_key(btf, proto)
}

/// The canonical parameter list of the prototype a typedef points to.
fn proto_key_of_pointer(btf: &Btf, typedef: u32) -> Result<String, String> {
    let ptr = btf.skip_aliases(typedef).map_err(|e| e.to_string())?;
    match btf.get(ptr).map(|t| &t.kind) {
        Some(Kind::Ptr { type_id }) => proto_key(btf, *type_id),
        _ => Err("the btf_trace_ typedef is not a function pointer".into()),
    }
}

fn proto_key(btf: &Btf, proto: u32) -> Result<String, String> {
    let Some(Kind::FuncProto { params, .. }) = btf.get(proto).map(|t| &t.kind) else {
        return Err("not a prototype".into());
    };
    let mut key = String::new();
    for p in params.iter().skip(1) {
        key.push_str(&btf.canonical(p.type_id).map_err(|e| e.to_string())?);
        key.push(',');
    }
    Ok(key)
}
