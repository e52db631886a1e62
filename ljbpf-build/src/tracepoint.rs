//! Tracepoint `format` files: the layout of the record a tracepoint program's `ctx` points at.
//!
//! Each tracepoint has `{tracefs}/events/{category}/{name}/format`, for example:
//!
//! ```text
//! name: sys_enter_write
//! ID: 840
//! format:
//!     field:unsigned short common_type;    offset:0;    size:2;    signed:0;
//!     ...
//!     field:unsigned int fd;    offset:16;    size:8;    signed:0;
//! print fmt: "fd: 0x%08lx, ..."
//! ```
//!
//! The `offset:`, `size:` and `signed:` values are the truth: the kernel wrote them from the
//! record it really builds. The declaration text is only a hint (`unsigned int fd` above is 8
//! bytes: syscall arguments are stored as longs), so we never re-lay-out a field from its C
//! type. The format is documented in the kernel's `Documentation/trace/events.rst` ("Event
//! formats") and produced by `kernel/trace/trace_events.c` (`f_show`).

use std::fmt;
use std::path::{Path, PathBuf};

use ljbpf_core::tracefs::FieldLine;

use crate::ctype::{CType, CTypes};

/// Where tracefs shows the events when nothing else is said.
pub const DEFAULT_EVENTS_DIR: &str = "/sys/kernel/tracing/events";

/// Environment variable naming another events directory (another tracefs mount point, or a
/// copy of the format files for building on a machine without tracefs).
pub const EVENTS_DIR_ENV: &str = "LJBPF_TRACEFS_EVENTS";

/// The parsed `format` file of one tracepoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TracepointFormat {
    /// The category (subsystem) directory: `syscalls`, `sched`.
    pub category: String,
    /// The event name: `sys_enter_write`.
    pub name: String,
    /// The `ID:` line: the perf event id (absent in some hand-written test formats).
    pub id: Option<u32>,
    /// All fields in file order, the `common_*` header fields included.
    pub fields: Vec<TpField>,
}

/// One `field:` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TpField {
    /// The field name (without array brackets).
    pub name: String,
    /// The C declaration text as written in the file, e.g. `char prev_comm[16]`.
    pub decl: String,
    /// Byte offset in the record.
    pub offset: u32,
    /// Size in bytes (0 for a trailing flexible array `args[]`).
    pub size: u32,
    /// The file's `signed:` flag; for arrays, the signedness of the element. Note the kernel is
    /// built with `-funsigned-char` (Linux 6.2+), so `char` fields say `signed:0`.
    pub signed: bool,
    /// What kind of value the field holds.
    pub kind: TpFieldKind,
}

/// How a tracepoint field is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TpFieldKind {
    /// A scalar integer of `size` bytes (1, 2, 4 or 8): integer types, enums, `bool`, and
    /// unknown typedef names of those sizes (`pid_t`, `dev_t`, `xfs_ino_t`).
    Int,
    /// Any `T *` (8 bytes).
    Pointer,
    /// A fixed array (`char prev_comm[16]`, `unsigned long args[6]`, `u8 saddr[4]`) or a
    /// trailing flexible array (`unsigned long args[]`: `len == 0`, `size == 0`).
    Array {
        /// Size of one element in bytes.
        elem_size: u32,
        /// Number of elements (0 for `[]`).
        len: u32,
        /// Whether elements are signed (the file's `signed:` flag).
        elem_signed: bool,
        /// Elements are plain `char`: the array is a string.
        is_char: bool,
    },
    /// `__data_loc T[] name`: a u32 whose low 16 bits are the offset of the data from the start
    /// of the record and whose high 16 bits are its length in bytes.
    DataLoc {
        /// The data is a `char[]` string.
        is_char: bool,
    },
    /// `__rel_loc T[] name` (Linux 5.19+): like [`TpFieldKind::DataLoc`], but the low 16 bits
    /// are the offset from the end of this 4-byte field.
    RelLoc {
        /// The data is a `char[]` string.
        is_char: bool,
    },
    /// Anything else (structs, `cpumask_t` by value, odd sizes): only `offset` and `size` are
    /// known.
    Other,
}

/// Errors finding or parsing a `format` file.
#[derive(Debug, thiserror::Error)]
pub enum TpError {
    /// The spec is not `category/name`.
    #[error("bad tracepoint `{spec}`: expected `category/name`, e.g. `syscalls/sys_enter_write`")]
    BadSpec {
        /// The spec as given.
        spec: String,
    },
    /// The events directory itself does not exist: tracefs is not mounted there.
    #[error(
        "tracepoint `{spec}`: events directory {} does not exist; tracefs is not mounted \
         (as root: `mount -t tracefs nodev /sys/kernel/tracing`), or set {EVENTS_DIR_ENV} to \
         the events directory",
        dir.display()
    )]
    NoEventsDir {
        /// The tracepoint asked for.
        spec: String,
        /// The events directory that was searched.
        dir: PathBuf,
    },
    /// No `format` file for this tracepoint.
    #[error(
        "unknown tracepoint `{spec}`: {} does not exist (events directory {}; {EVENTS_DIR_ENV} \
         overrides it; tracefs must be mounted: `mount -t tracefs nodev /sys/kernel/tracing`){}",
        dir.join(spec).join("format").display(),
        dir.display(),
        Suggestions(suggestions)
    )]
    UnknownTracepoint {
        /// The tracepoint asked for.
        spec: String,
        /// The events directory that was searched.
        dir: PathBuf,
        /// Event names of the same category with a common prefix, or categories, to help with
        /// typos (sorted, at most a few).
        suggestions: Vec<String>,
    },
    /// The file exists but could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A line of the file is not understood.
    #[error("{category}/{name} format line {line}: {message}: `{text}`")]
    Parse {
        /// The category.
        category: String,
        /// The event name.
        name: String,
        /// 1-based line in the format file.
        line: u32,
        /// The offending line.
        text: String,
        /// What was expected.
        message: String,
    },
}

/// Renders suggestion lists in error messages.
struct Suggestions<'a>(&'a [String]);

impl fmt::Display for Suggestions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            Ok(())
        } else {
            write!(f, "; did you mean: {}?", self.0.join(", "))
        }
    }
}

impl TracepointFormat {
    /// The field called `name`.
    pub fn field(&self, name: &str) -> Option<&TpField> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The names of all fields, in record order (for "unknown field" diagnostics).
    pub fn field_names(&self) -> Vec<&str> {
        self.fields.iter().map(|f| f.name.as_str()).collect()
    }

    /// A ready-made message for an unknown field: names the tracepoint and lists its fields
    /// (the `common_*` header fields last, since they are rarely what was meant).
    pub fn unknown_field_message(&self, name: &str) -> String {
        let (common, own): (Vec<&str>, Vec<&str>) = self
            .field_names()
            .into_iter()
            .partition(|n| n.starts_with("common_"));
        let mut all = own;
        all.extend(common);
        let near = crate::diag::did_you_mean(all.iter().copied(), name)
            .map(|near| format!("{near} "))
            .unwrap_or_default();
        format!(
            "tracepoint `{}/{}` has no field `{name}`; {near}its fields are: {}",
            self.category,
            self.name,
            all.join(", ")
        )
    }
}

/// The events directory to use: the builder's override, else `$LJBPF_TRACEFS_EVENTS` (if set
/// and not empty), else [`DEFAULT_EVENTS_DIR`].
pub fn events_dir(builder_override: Option<&Path>) -> PathBuf {
    if let Some(p) = builder_override {
        return p.to_path_buf();
    }
    match std::env::var_os(EVENTS_DIR_ENV) {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from(DEFAULT_EVENTS_DIR),
    }
}

/// Splits `category/name`, refusing anything that could leave the events directory.
fn split_spec(spec: &str) -> Result<(&str, &str), TpError> {
    let bad = || TpError::BadSpec {
        spec: spec.to_string(),
    };
    let (cat, name) = spec.split_once('/').ok_or_else(bad)?;
    let ok = |s: &str| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
    };
    if ok(cat) && ok(name) {
        Ok((cat, name))
    } else {
        Err(bad())
    }
}

/// Reads and parses `{events_dir}/{category}/{name}/format` for `spec` = `category/name`.
pub fn load_format(events_dir: &Path, spec: &str) -> Result<TracepointFormat, TpError> {
    let (cat, name) = split_spec(spec)?;
    let path = events_dir.join(cat).join(name).join("format");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if !events_dir.is_dir() {
                return Err(TpError::NoEventsDir {
                    spec: spec.to_string(),
                    dir: events_dir.to_path_buf(),
                });
            }
            return Err(TpError::UnknownTracepoint {
                spec: spec.to_string(),
                dir: events_dir.to_path_buf(),
                suggestions: suggest(events_dir, cat, name),
            });
        }
        Err(source) => return Err(TpError::Io { path, source }),
    };
    parse_format(cat, name, &text)
}

/// Names close to a mistyped tracepoint: events of the category sharing the longest prefix, or,
/// if the category does not exist, categories sharing a prefix with it.
fn suggest(events_dir: &Path, cat: &str, name: &str) -> Vec<String> {
    let list = |dir: &Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter(|e| e.path().is_dir())
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    let cat_dir = events_dir.join(cat);
    if cat_dir.is_dir() {
        crate::diag::closest(list(&cat_dir), name)
            .into_iter()
            .map(|n| format!("{cat}/{n}"))
            .collect()
    } else {
        crate::diag::closest(list(events_dir), cat)
            .into_iter()
            .map(|c| format!("{c}/{name}"))
            .collect()
    }
}

/// Parses the text of a `format` file. `category` and `name` identify it in errors and in the
/// result (the `name:` line is not trusted over the path it was read from).
pub fn parse_format(category: &str, name: &str, text: &str) -> Result<TracepointFormat, TpError> {
    let mut out = TracepointFormat {
        category: category.to_string(),
        name: name.to_string(),
        id: None,
        fields: Vec::new(),
    };
    let err = |line: usize, text: &str, message: &str| TpError::Parse {
        category: category.to_string(),
        name: name.to_string(),
        line: u32::try_from(line + 1).unwrap_or(u32::MAX),
        text: text.to_string(),
        message: message.to_string(),
    };
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with("name:") || line == "format:" {
            continue;
        }
        if line.starts_with("print fmt:") {
            // The rest is a C expression for the kernel's printer; fields are all above it.
            break;
        }
        if let Some(id) = line.strip_prefix("ID:") {
            let id = id
                .trim()
                .parse()
                .map_err(|_| err(i, raw, "expected a number after `ID:`"))?;
            out.id = Some(id);
            continue;
        }
        if line.starts_with("field:") || line.starts_with("field special:") {
            let f = parse_field_line(line).map_err(|m| err(i, raw, &m))?;
            if out.field(&f.name).is_some() {
                return Err(err(i, raw, &format!("duplicate field `{}`", f.name)));
            }
            out.fields.push(f);
            continue;
        }
        return Err(err(
            i,
            raw,
            "expected `name:`, `ID:`, `format:`, a `field:` line or `print fmt:`",
        ));
    }
    if out.fields.is_empty() {
        return Err(err(0, "", "no `field:` lines"));
    }
    Ok(out)
}

/// `field:DECL;<TAB>offset:N;<TAB>size:N;<TAB>signed:N;` (tab-separated).
fn parse_field_line(line: &str) -> Result<TpField, String> {
    let FieldLine {
        decl,
        offset,
        size,
        signed,
    } = ljbpf_core::tracefs::parse_field_line(line)?;
    let (name, kind) = classify(&decl, size, signed)?;
    Ok(TpField {
        name,
        decl,
        offset,
        size,
        signed,
        kind,
    })
}

/// Splits a declaration into its field name and kind. The file's size/signed decide; the type
/// text only says what shape the field has.
pub(crate) fn classify(
    decl: &str,
    size: u32,
    signed: bool,
) -> Result<(String, TpFieldKind), String> {
    let decl = decl.trim();
    // Array dimensions, `name[16]` or `name[]` (possibly several).
    let mut base = decl;
    let mut dims: Vec<Option<u32>> = Vec::new();
    while let Some(stripped) = base.strip_suffix(']') {
        let open = stripped
            .rfind('[')
            .ok_or_else(|| format!("unbalanced `]` in `{decl}`"))?;
        let inside = stripped[open + 1..].trim();
        dims.push(if inside.is_empty() {
            None
        } else {
            Some(
                inside
                    .parse()
                    .map_err(|_| format!("array size `{inside}` is not a number"))?,
            )
        });
        base = stripped[..open].trim_end();
    }
    dims.reverse();
    // The name is the trailing run of identifier characters (all ASCII, so the index after it
    // is a char boundary even when the text before it is not ASCII).
    let name_start = base.len()
        - base
            .bytes()
            .rev()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count();
    let name = &base[name_start..];
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(format!("no field name in `{decl}`"));
    }
    let ty = base[..name_start].trim();
    if ty.is_empty() {
        return Err(format!("no type in `{decl}`"));
    }

    for (prefix, rel) in [("__data_loc", false), ("__rel_loc", true)] {
        if let Some(rest) = ty.strip_prefix(prefix) {
            if rest.starts_with(|c: char| c.is_ascii_whitespace()) {
                let elem = rest.trim().trim_end_matches("[]").trim();
                let is_char = is_plain_char(elem);
                let kind = if rel {
                    TpFieldKind::RelLoc { is_char }
                } else {
                    TpFieldKind::DataLoc { is_char }
                };
                return Ok((name.to_string(), kind));
            }
        }
    }

    if !dims.is_empty() {
        let elem_ty = ty;
        let known = CTypes::default()
            .parse_type(&strip_kernel_words(elem_ty))
            .ok();
        let is_char = !is_pointer(elem_ty) && is_plain_char(elem_ty);
        let total: Option<u32> = dims
            .iter()
            .try_fold(1u32, |acc, d| d.and_then(|d| acc.checked_mul(d)));
        let kind = match total {
            Some(len) if len > 0 && size.is_multiple_of(len) => TpFieldKind::Array {
                elem_size: size / len,
                len,
                elem_signed: signed,
                is_char,
            },
            Some(_) => TpFieldKind::Other,
            // `T x[]`: the element size comes from the type, when it is one we know.
            None => match known.as_ref().map(CType::size) {
                Some(elem_size) if elem_size > 0 && dims.len() == 1 => TpFieldKind::Array {
                    elem_size,
                    len: 0,
                    elem_signed: signed,
                    is_char,
                },
                _ => TpFieldKind::Other,
            },
        };
        return Ok((name.to_string(), kind));
    }

    if is_pointer(ty) {
        let kind = if size == 8 {
            TpFieldKind::Pointer
        } else {
            TpFieldKind::Other
        };
        return Ok((name.to_string(), kind));
    }

    let scalar_size = matches!(size, 1 | 2 | 4 | 8);
    let cleaned = strip_kernel_words(ty);
    let kind = match CTypes::default().parse_type(&cleaned) {
        Ok(t) if t.is_integer() && scalar_size => TpFieldKind::Int,
        Ok(_) => TpFieldKind::Other,
        Err(_) => {
            let words: Vec<&str> = cleaned
                .split_whitespace()
                .filter(|w| !matches!(*w, "const" | "volatile"))
                .collect();
            match words.as_slice() {
                // Enums are integers; their definitions are not in the file.
                ["enum", _] if scalar_size => TpFieldKind::Int,
                ["struct" | "union", ..] => TpFieldKind::Other,
                // An unknown typedef name (`pid_t`, `dev_t`, `gfp_t`): the kernel's typedefs of
                // scalar sizes are integers in tracepoints (by-value structs like `cpumask_t`
                // only appear behind __data_loc). A guess, but reading it as an integer of the
                // file's size is what the record holds either way.
                [_] if scalar_size => TpFieldKind::Int,
                _ => TpFieldKind::Other,
            }
        }
    };
    Ok((name.to_string(), kind))
}

/// Whether a type text is a pointer: `T *`, `T *const`, `void __seg_gs *`.
fn is_pointer(ty: &str) -> bool {
    let mut t = ty.trim();
    loop {
        let before = t;
        for q in [
            "const",
            "volatile",
            "restrict",
            "__restrict",
            "__user",
            "__rcu",
        ] {
            if let Some(rest) = t.strip_suffix(q) {
                if rest.ends_with(|c: char| c.is_ascii_whitespace() || c == '*') {
                    t = rest.trim_end();
                }
            }
        }
        if t == before {
            break;
        }
    }
    t.ends_with('*')
}

/// Whether the (element) type is plain `char` (qualifiers aside).
fn is_plain_char(ty: &str) -> bool {
    let words: Vec<&str> = ty
        .split_whitespace()
        .filter(|w| !matches!(*w, "const" | "volatile"))
        .collect();
    words == ["char"]
}

/// Drops kernel annotations that are not C types (`__user`, address-space qualifiers) so the
/// rest can go through the C type parser.
fn strip_kernel_words(ty: &str) -> String {
    ty.split_whitespace()
        .filter(|w| {
            !matches!(
                *w,
                "__user" | "__rcu" | "__iomem" | "__percpu" | "__seg_gs" | "__seg_fs" | "__force"
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const WRITE: &str = "name: sys_enter_write
ID: 840
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;
\tfield:unsigned int fd;\toffset:16;\tsize:8;\tsigned:0;
\tfield:const char * buf;\toffset:24;\tsize:8;\tsigned:0;
\tfield:size_t count;\toffset:32;\tsize:8;\tsigned:0;

print fmt: \"fd: 0x%08lx\", ((unsigned long)(REC->fd))
";

    #[test]
    fn sys_enter_write() {
        let f = parse_format("syscalls", "sys_enter_write", WRITE).expect("parses");
        assert_eq!(f.id, Some(840));
        assert_eq!(f.fields.len(), 8);
        let fd = f.field("fd").expect("fd");
        assert_eq!(
            (fd.offset, fd.size, fd.signed, fd.kind),
            (16, 8, false, TpFieldKind::Int)
        );
        assert_eq!(f.field("buf").map(|f| f.kind), Some(TpFieldKind::Pointer));
    }

    #[test]
    fn kinds() {
        let k = |d: &str, size, signed| classify(d, size, signed);
        assert_eq!(
            k("char comm[16]", 16, false),
            Ok((
                "comm".into(),
                TpFieldKind::Array {
                    elem_size: 1,
                    len: 16,
                    elem_signed: false,
                    is_char: true
                }
            ))
        );
        assert_eq!(
            k("unsigned long args[]", 0, false),
            Ok((
                "args".into(),
                TpFieldKind::Array {
                    elem_size: 8,
                    len: 0,
                    elem_signed: false,
                    is_char: false
                }
            ))
        );
        assert_eq!(
            k("__data_loc char[] name", 4, false),
            Ok(("name".into(), TpFieldKind::DataLoc { is_char: true }))
        );
        assert_eq!(
            k("__data_loc cpumask_t mask", 4, false),
            Ok(("mask".into(), TpFieldKind::DataLoc { is_char: false }))
        );
        assert_eq!(
            k("const void *const p", 8, false).map(|x| x.1),
            Ok(TpFieldKind::Pointer)
        );
        assert_eq!(
            k("void __seg_gs * ptr", 8, false).map(|x| x.1),
            Ok(TpFieldKind::Pointer)
        );
        assert_eq!(
            k("enum foo state", 4, false).map(|x| x.1),
            Ok(TpFieldKind::Int)
        );
        assert_eq!(k("pid_t pid", 4, true).map(|x| x.1), Ok(TpFieldKind::Int));
        assert_eq!(
            k("const clockid_t c", 8, false).map(|x| x.1),
            Ok(TpFieldKind::Int)
        );
        assert_eq!(
            k("const enum e c", 8, false).map(|x| x.1),
            Ok(TpFieldKind::Int)
        );
        assert_eq!(
            k("struct foo s", 12, false).map(|x| x.1),
            Ok(TpFieldKind::Other)
        );
        assert!(k("int", 4, true).is_err());
        assert!(k("int x]", 4, true).is_err());
        assert!(k("int é", 4, true).is_err());
        assert_eq!(k("été x", 4, true).map(|x| x.0), Ok("x".to_string()));
    }

    #[test]
    fn specs() {
        assert!(split_spec("a/b").is_ok());
        for bad in ["", "a", "a/", "/b", "a/b/c", "../x", "a/..", "a b/c"] {
            assert!(split_spec(bad).is_err(), "{bad}");
        }
    }
}
