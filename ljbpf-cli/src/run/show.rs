//! Turning map bytes into text, given the C types the compiler read from the probe file: values
//! decoded field by field, tables sorted by value, log2 histograms, symbolised stacks and event
//! lines. Pure functions of bytes and types, tested without a kernel.

use std::fmt::{self, Write as _};

use ljbpf_build::core::syscalls::syscall_name;
use ljbpf_build::ctype::CType;
use ljbpf_runtime::hist::log2_hist;

/// A decoded C value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Val {
    /// An integer (any width, signedness applied).
    Int(i128),
    /// `bool`.
    Bool(bool),
    /// A `char` array: its bytes up to the first NUL.
    Str(Vec<u8>),
    /// A pointer.
    Ptr(u64),
    /// Any other array.
    List(Vec<Val>),
    /// A struct or union, field by field.
    Fields(Vec<(String, Val)>),
}

/// Decodes `bytes` (at least `ty.size()` of them; missing bytes read as 0) as a `ty`.
pub fn decode(ty: &CType, bytes: &[u8]) -> Val {
    match ty {
        CType::Bool => Val::Bool(bytes.first().is_some_and(|&b| b != 0)),
        CType::Int { size, signed, .. } => Val::Int(int(bytes, 0, *size, *signed)),
        CType::Pointer(_) => Val::Ptr(int(bytes, 0, 8, false) as u64),
        CType::Array(elem, n) if elem.is_char() => {
            let n = (*n as usize).min(bytes.len());
            let end = bytes[..n].iter().position(|&b| b == 0).unwrap_or(n);
            Val::Str(bytes[..end].to_vec())
        }
        CType::Array(elem, n) => {
            let size = elem.size() as usize;
            Val::List(
                (0..*n as usize)
                    .map(|i| decode(elem, bytes.get(i * size..).unwrap_or(&[])))
                    .collect(),
            )
        }
        CType::Struct(def) => Val::Fields(
            def.fields
                .iter()
                .map(|f| {
                    let at = bytes.get(f.offset as usize..).unwrap_or(&[]);
                    let mut v = decode(&f.ty, at);
                    if let (Some((shift, width)), Val::Int(raw)) = (f.bits, &v) {
                        v = Val::Int(bitfield(*raw, shift, width, f.ty.is_signed()));
                    }
                    (f.name.clone(), v)
                })
                .collect(),
        ),
        CType::Void | CType::Opaque { .. } => Val::List(Vec::new()),
    }
}

/// A little-endian integer of `size` bytes at `at`.
fn int(bytes: &[u8], at: usize, size: u8, signed: bool) -> i128 {
    let mut raw = [0u8; 8];
    for (i, b) in raw.iter_mut().enumerate().take(usize::from(size)) {
        *b = bytes.get(at + i).copied().unwrap_or(0);
    }
    let unsigned = u64::from_le_bytes(raw);
    let bits = u32::from(size) * 8;
    if signed && bits < 64 {
        let shift = 64 - bits;
        i128::from(((unsigned << shift) as i64) >> shift)
    } else if signed {
        i128::from(unsigned as i64)
    } else {
        i128::from(unsigned)
    }
}

fn bitfield(container: i128, shift: u8, width: u8, signed: bool) -> i128 {
    let raw = (container as u128 >> shift) & ((1u128 << width) - 1);
    if signed && width > 0 && raw >> (width - 1) & 1 == 1 {
        raw as i128 - (1i128 << width)
    } else {
        raw as i128
    }
}

/// Adds up the values of a per-CPU lookup: `count` values of `ty`, each at a multiple of its
/// size rounded up to 8 bytes (kernel/bpf/syscall.c, `bpf_map_value_size`). Integers are
/// summed, field by field in structs; anything else is taken from the first CPU.
pub fn decode_per_cpu(ty: &CType, bytes: &[u8], count: usize) -> Val {
    let stride = (ty.size() as usize).next_multiple_of(8);
    (0..count)
        .map(|cpu| decode(ty, bytes.get(cpu * stride..).unwrap_or(&[])))
        .reduce(add)
        .unwrap_or(Val::Int(0))
}

fn add(a: Val, b: Val) -> Val {
    match (a, b) {
        (Val::Int(x), Val::Int(y)) => Val::Int(x.saturating_add(y)),
        (Val::Fields(xs), Val::Fields(ys)) => Val::Fields(
            xs.into_iter()
                .zip(ys)
                .map(|((name, x), (_, y))| (name, add(x, y)))
                .collect(),
        ),
        (Val::List(xs), Val::List(ys)) => {
            Val::List(xs.into_iter().zip(ys).map(|(x, y)| add(x, y)).collect())
        }
        (a, _) => a,
    }
}

impl Val {
    /// The number a table is sorted by: the value itself, or a struct's first integer field.
    pub fn weight(&self) -> i128 {
        match self {
            Val::Int(n) => *n,
            Val::Bool(b) => i128::from(*b),
            Val::Fields(fields) => fields.first().map_or(0, |(_, v)| v.weight()),
            Val::List(items) => items.first().map_or(0, Val::weight),
            Val::Str(_) | Val::Ptr(_) => 0,
        }
    }

    /// Whether every integer in it is 0 (an array entry never written).
    pub fn is_zero(&self) -> bool {
        match self {
            Val::Int(n) => *n == 0,
            Val::Bool(b) => !b,
            Val::Str(s) => s.is_empty(),
            Val::Ptr(p) => *p == 0,
            Val::List(items) => items.iter().all(Val::is_zero),
            Val::Fields(fields) => fields.iter().all(|(_, v)| v.is_zero()),
        }
    }

    /// Field `name` of a struct value.
    pub fn field(&self, name: &str) -> Option<&Val> {
        match self {
            Val::Fields(fields) => fields.iter().find(|(n, _)| n == name).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The value as columns: `(header, text)`, one per field of a struct, else one named
    /// `header`.
    fn columns(&self, header: &str) -> Vec<(String, String)> {
        match self {
            Val::Fields(fields) => fields
                .iter()
                .map(|(name, v)| (name.to_uppercase(), v.to_string()))
                .collect(),
            v => vec![(header.to_owned(), v.to_string())],
        }
    }
}

impl fmt::Display for Val {
    /// Integers in decimal, strings quoted with bytes outside printable ASCII escaped (`\xff`),
    /// pointers in hex, arrays as `[a, b]`, structs as `{name=value ...}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Val::Int(n) => write!(f, "{n}"),
            Val::Bool(b) => write!(f, "{b}"),
            Val::Ptr(p) => write!(f, "{p:#x}"),
            Val::Str(bytes) => {
                f.write_char('"')?;
                for &b in bytes {
                    match b {
                        b'"' => f.write_str("\\\"")?,
                        b'\\' => f.write_str("\\\\")?,
                        0x20..=0x7e => f.write_char(char::from(b))?,
                        _ => write!(f, "\\x{b:02x}")?,
                    }
                }
                f.write_char('"')
            }
            Val::List(items) => {
                f.write_char('[')?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_char(']')
            }
            Val::Fields(fields) => {
                f.write_char('{')?;
                f.write_str(&fields_line(fields))?;
                f.write_char('}')
            }
        }
    }
}

/// `name=value name=value`: an event's line, a struct inside braces.
pub fn fields_line(fields: &[(String, Val)]) -> String {
    fields
        .iter()
        .map(|(name, v)| format!("{name}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// An event as one line: its fields as `name=value`, or the value alone if it is no struct.
pub fn event_line(v: &Val) -> String {
    match v {
        Val::Fields(fields) => fields_line(fields),
        v => v.to_string(),
    }
}

/// The entries of a map, decoded, largest value first (ties in key order), and how many
/// there were before `top` cut them.
pub struct Rows {
    /// `(key, value)`, at most `top` of them.
    pub rows: Vec<(Val, Val)>,
    /// How many entries the map had.
    pub total: usize,
}

impl Rows {
    /// Sorts `entries` by value, largest first, and keeps the first `top`.
    pub fn new(mut entries: Vec<(Val, Val)>, top: usize) -> Rows {
        let total = entries.len();
        entries.sort_by(|(ka, va), (kb, vb)| {
            vb.weight()
                .cmp(&va.weight())
                .then_with(|| ka.weight().cmp(&kb.weight()))
                .then_with(|| ka.to_string().cmp(&kb.to_string()))
        });
        entries.truncate(top);
        Rows {
            rows: entries,
            total,
        }
    }

    /// A line saying how many rows `--top` left out, if any.
    fn cut_note(&self) -> String {
        let left = self.total - self.rows.len();
        if left == 0 {
            String::new()
        } else {
            format!(
                "({left} more of {} entries not shown; --top N shows more)\n",
                self.total
            )
        }
    }
}

/// An aligned table: one column per key field and per value field; names left-aligned,
/// numbers right-aligned. `syscalls` shows integer keys as syscall names.
pub fn table(rows: &Rows, syscalls: bool) -> String {
    if rows.rows.is_empty() {
        return "(no entries)\n".to_owned();
    }
    let key_header = if syscalls { "SYSCALL" } else { "KEY" };
    let cells: Vec<Vec<(String, String)>> = rows
        .rows
        .iter()
        .map(|(k, v)| {
            let mut cols = match (k, syscalls) {
                (Val::Int(n), true) => {
                    let name = u64::try_from(*n)
                        .ok()
                        .and_then(syscall_name)
                        .map_or_else(|| n.to_string(), str::to_owned);
                    vec![(key_header.to_owned(), name)]
                }
                _ => k.columns(key_header),
            };
            cols.extend(v.columns("VALUE"));
            cols
        })
        .collect();
    let headers: Vec<String> = cells[0].iter().map(|(h, _)| h.clone()).collect();
    let numeric: Vec<bool> = (0..headers.len())
        .map(|i| {
            cells
                .iter()
                .all(|row| row[i].1.parse::<i128>().is_ok() || row[i].1.starts_with("0x"))
        })
        .collect();
    let mut widths: Vec<usize> = headers.iter().map(String::len).collect();
    for row in &cells {
        for (w, (_, text)) in widths.iter_mut().zip(row) {
            *w = (*w).max(text.len());
        }
    }
    let mut out = String::new();
    let header_row: Vec<(String, String)> =
        headers.iter().map(|h| (h.clone(), h.clone())).collect();
    for row in std::iter::once(&header_row).chain(&cells) {
        let mut line = String::new();
        for (i, (_, text)) in row.iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            let w = widths[i];
            if numeric[i] {
                let _ = write!(line, "{text:>w$}");
            } else {
                let _ = write!(line, "{text:<w$}");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.push_str(&rows.cut_note());
    out
}

/// A log2 histogram as bcc prints one: `entries` map slot numbers to counts.
pub fn histogram(entries: &[(Val, Val)]) -> String {
    let mut slots = vec![0u64; 65];
    for (k, v) in entries {
        if let Ok(slot) = usize::try_from(k.weight()) {
            if let Some(n) = slots.get_mut(slot) {
                *n = n.saturating_add(u64::try_from(v.weight()).unwrap_or(0));
            }
        }
    }
    let text = log2_hist(&slots, "value");
    if text.is_empty() {
        "(no entries)\n".to_owned()
    } else {
        text
    }
}

/// Which stack a key field holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StackSide {
    /// A kernel stack (`stack_id(map, 0)`).
    Kernel,
    /// A user stack (`stack_id(map, BPF.F_USER_STACK)`).
    User,
}

/// The stack id fields of a key: fields named `*stack_id`, user stacks when the name says
/// `user`. Kernel stacks are listed first (innermost frames are printed first, and the kernel
/// part of a stack is the innermost).
pub fn stack_fields(key: &Val) -> Vec<(String, StackSide)> {
    let Val::Fields(fields) = key else {
        return Vec::new();
    };
    let mut out: Vec<(String, StackSide)> = fields
        .iter()
        .filter(|(name, v)| name.ends_with("stack_id") && matches!(v, Val::Int(_)))
        .map(|(name, _)| {
            let side = if name.contains("user") {
                StackSide::User
            } else {
                StackSide::Kernel
            };
            (name.clone(), side)
        })
        .collect();
    out.sort_by_key(|(_, side)| *side == StackSide::User);
    out
}

/// Each row as its stacks (innermost frame first) followed by the key's other fields and the
/// value, like bcc's `offcputime`. `frames(side, id, key)` symbolises one stack, `None` when
/// the probe got none (a negative id) or the stack is gone from the map.
pub fn stacks(
    rows: &Rows,
    mut frames: impl FnMut(StackSide, i128, &Val) -> Option<Vec<String>>,
) -> String {
    if rows.rows.is_empty() {
        return "(no entries)\n".to_owned();
    }
    let mut out = String::new();
    for (key, value) in &rows.rows {
        let ids = stack_fields(key);
        for (name, side) in &ids {
            let id = key.field(name).map_or(-1, Val::weight);
            match frames(*side, id, key) {
                Some(list) => list.iter().for_each(|f| {
                    let _ = writeln!(out, "    {f}");
                }),
                None => {
                    let what = match side {
                        StackSide::Kernel => "kernel",
                        StackSide::User => "user",
                    };
                    let _ = writeln!(out, "    [no {what} stack: id {id}]");
                }
            }
        }
        let rest: Vec<(String, Val)> = match key {
            Val::Fields(fields) => fields
                .iter()
                .filter(|(name, _)| !ids.iter().any(|(n, _)| n == name))
                .cloned()
                .collect(),
            other => vec![("key".to_owned(), other.clone())],
        };
        let _ = writeln!(out, "    -  {}", fields_line(&rest));
        let _ = writeln!(out, "        {value}\n");
    }
    out.push_str(&rows.cut_note());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ljbpf_build::ctype::CTypes;

    fn types() -> CTypes {
        let mut t = CTypes::new();
        t.cdef(
            "struct k { uint32_t pid; int32_t user_stack_id; int32_t kernel_stack_id; \
             char name[4]; };",
        )
        .unwrap();
        t
    }

    #[test]
    fn structs_decode_field_by_field() {
        let t = types();
        let ty = t.parse_type("struct k").unwrap();
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&7u32.to_le_bytes());
        bytes.extend_from_slice(&(-14i32).to_le_bytes());
        bytes.extend_from_slice(&3i32.to_le_bytes());
        bytes.extend_from_slice(b"a\"\xff\0");
        let v = decode(&ty, &bytes);
        assert_eq!(
            v.to_string(),
            r#"{pid=7 user_stack_id=-14 kernel_stack_id=3 name="a\"\xff"}"#
        );
        let sides = stack_fields(&v);
        assert_eq!(
            sides,
            vec![
                ("kernel_stack_id".to_owned(), StackSide::Kernel),
                ("user_stack_id".to_owned(), StackSide::User)
            ]
        );
    }

    #[test]
    fn per_cpu_values_are_summed() {
        let t = CTypes::new();
        let ty = t.parse_type("uint32_t").unwrap();
        // Two CPUs, each value at a multiple of 8 bytes.
        let mut bytes = vec![0u8; 16];
        bytes[0..4].copy_from_slice(&5u32.to_le_bytes());
        bytes[8..12].copy_from_slice(&6u32.to_le_bytes());
        assert_eq!(decode_per_cpu(&ty, &bytes, 2), Val::Int(11));
    }

    #[test]
    fn tables_sort_by_value_and_name_syscalls() {
        let rows = Rows::new(
            vec![
                (Val::Int(0), Val::Int(3)),
                (Val::Int(39), Val::Int(1000)),
                (Val::Int(9999), Val::Int(2)),
            ],
            2,
        );
        let text = table(&rows, true);
        assert_eq!(
            text,
            "SYSCALL  VALUE\ngetpid    1000\nread         3\n\
             (1 more of 3 entries not shown; --top N shows more)\n"
        );
    }

    #[test]
    fn stacks_print_frames_then_the_rest_of_the_key() {
        let t = types();
        let ty = t.parse_type("struct k").unwrap();
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&7u32.to_le_bytes());
        bytes.extend_from_slice(&(-14i32).to_le_bytes());
        bytes.extend_from_slice(&3i32.to_le_bytes());
        bytes.extend_from_slice(b"ab\0\0");
        let rows = Rows::new(vec![(decode(&ty, &bytes), Val::Int(99))], 10);
        let mut asked = Vec::new();
        let text = stacks(&rows, |side, id, _| {
            asked.push((side, id));
            (id >= 0).then(|| vec!["schedule".to_owned(), "do_nanosleep".to_owned()])
        });
        assert_eq!(asked, vec![(StackSide::Kernel, 3), (StackSide::User, -14)]);
        assert_eq!(
            text,
            "    schedule\n    do_nanosleep\n    [no user stack: id -14]\n    \
             -  pid=7 name=\"ab\"\n        99\n\n"
        );
    }

    #[test]
    fn events_are_one_line_of_fields() {
        let mut t = CTypes::new();
        t.cdef("struct e { uint64_t ts; int16_t d[2]; bool ok; void *p; };")
            .unwrap();
        let ty = t.parse_type("struct e").unwrap();
        let mut bytes = vec![0u8; 24];
        bytes[0] = 5;
        bytes[8..10].copy_from_slice(&(-2i16).to_le_bytes());
        bytes[10] = 1;
        bytes[12] = 1;
        bytes[16] = 0x10;
        assert_eq!(
            event_line(&decode(&ty, &bytes)),
            "ts=5 d=[-2, 1] ok=true p=0x10"
        );
    }

    #[test]
    fn histograms_use_bcc_rows() {
        let text = histogram(&[(Val::Int(0), Val::Int(3)), (Val::Int(2), Val::Int(1))]);
        assert!(text.contains("0 -> 1          : 3"), "{text}");
        assert!(text.contains("4 -> 7          : 1"), "{text}");
    }
}
