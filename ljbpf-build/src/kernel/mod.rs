//! What the compiler needs to know about the target kernel, and where it comes from.
//!
//! Tracepoint record layouts come from the first source that has them:
//!
//! 1. what the user named: a BTF file ([`crate::Options::btf`], `--btf FILE`, `$LJBPF_BTF`)
//!    and/or a directory of format files ([`crate::Options::events_dir`], `--events-dir DIR`,
//!    `$LJBPF_TRACEFS_EVENTS`). When either is given, only those are used: a build that names
//!    its kernel must not quietly read the build machine's.
//! 2. otherwise the running kernel's BTF, `/sys/kernel/btf/vmlinux` (world-readable, present
//!    with CONFIG_DEBUG_INFO_BTF on every current distribution kernel);
//! 3. otherwise tracefs format files, `/sys/kernel/tracing/events` (root only, and often absent
//!    in containers and CI).
//!
//! BTF comes before readable tracefs so that the same build gives the same object whoever runs
//! it: measured on Linux 6.18 x86-64 (`ljbpf-build/tests/btf_tracefs.rs`), of 2323 events, every
//! one BTF answers for (2097) has the layout its format file gives (field names, offsets,
//! sizes, signedness and field kinds) and none differs, so preferring tracefs would only make
//! the output depend on privileges. Tracefs still answers what BTF cannot: events whose class
//! BTF leaves ambiguous (208), ftrace's own events (18), dynamic kprobe/uprobe events. One
//! exception to "BTF first": BTF lacks the element type of dynamic arrays (`__data_loc`), so
//! for the 189 events that have them a readable format file is preferred, as it says which
//! are strings; without one, BTF's layout reads them as raw bytes.

pub mod btf;
pub mod events;
pub mod funcs;

use std::path::{Path, PathBuf};

use crate::tracepoint::{self, TpError, TracepointFormat};
use btf::Btf;
use events::{BtfEvents, EventError};

/// The running kernel's BTF (Documentation/ABI/testing/sysfs-kernel-btf).
pub const DEFAULT_VMLINUX: &str = "/sys/kernel/btf/vmlinux";

/// Environment variable naming a BTF file to take tracepoint layouts from.
pub const BTF_ENV: &str = "LJBPF_BTF";

/// One place tracepoint layouts can come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayoutSource {
    /// A raw BTF file (`/sys/kernel/btf/vmlinux` or a copy of it).
    Btf(PathBuf),
    /// An events directory of format files (`<dir>/<category>/<name>/format`).
    EventsDir(PathBuf),
}

impl LayoutSource {
    fn describe(&self) -> String {
        match self {
            LayoutSource::Btf(p) => format!("BTF {}", p.display()),
            LayoutSource::EventsDir(p) => format!("format files in {}", p.display()),
        }
    }
}

/// The sources to try, in order, and whether the user chose them. `btf` and `events_dir` are
/// the options; the environment variables stand in for them when they are not given.
pub fn layout_sources(btf: Option<&Path>, events_dir: Option<&Path>) -> (Vec<LayoutSource>, bool) {
    let env = |name: &str| match std::env::var_os(name) {
        Some(v) if !v.is_empty() => Some(PathBuf::from(v)),
        _ => None,
    };
    let btf = btf.map(Path::to_path_buf).or_else(|| env(BTF_ENV));
    let events = events_dir
        .map(Path::to_path_buf)
        .or_else(|| env(tracepoint::EVENTS_DIR_ENV));
    let mut explicit = Vec::new();
    explicit.extend(btf.map(LayoutSource::Btf));
    explicit.extend(events.map(LayoutSource::EventsDir));
    if !explicit.is_empty() {
        return (explicit, true);
    }
    (
        vec![
            LayoutSource::Btf(PathBuf::from(DEFAULT_VMLINUX)),
            LayoutSource::EventsDir(PathBuf::from(tracepoint::DEFAULT_EVENTS_DIR)),
        ],
        false,
    )
}

/// Tracepoint layouts for one compilation: the sources in order, each BTF read at most once.
pub struct Layouts {
    sources: Vec<(LayoutSource, Option<Result<BtfEvents, String>>)>,
    explicit: bool,
}

/// A layout and the file it came from (for `cargo:rerun-if-changed`).
pub struct Found {
    /// The layout.
    pub format: TracepointFormat,
    /// The file read: the BTF file, or the format file.
    pub input: PathBuf,
}

impl Layouts {
    /// The sources for these options (see [`layout_sources`]).
    pub fn new(btf: Option<&Path>, events_dir: Option<&Path>) -> Layouts {
        let (sources, explicit) = layout_sources(btf, events_dir);
        Layouts {
            sources: sources.into_iter().map(|s| (s, None)).collect(),
            explicit,
        }
    }

    /// The kernel's BTF, for BTF-typed programs (tp_btf, fentry, fexit): the first BTF source
    /// that reads, and its path (for `cargo:rerun-if-changed`).
    pub fn btf(&mut self) -> Result<(&BtfEvents, PathBuf), String> {
        let mut tried = Vec::new();
        for (source, loaded) in &mut self.sources {
            let LayoutSource::Btf(path) = source else {
                continue;
            };
            let events = loaded.get_or_insert_with(|| Btf::from_file(path).map(BtfEvents::new));
            match events {
                Ok(ev) => return Ok((ev, path.clone())),
                Err(e) => tried.push(format!("{}: {e}", path.display())),
            }
        }
        let why = if tried.is_empty() {
            "no BTF file was given (only format files)".to_string()
        } else {
            tried.join("; ")
        };
        Err(format!(
            "this program kind takes its arguments from the kernel's BTF, which is unavailable: \
             {why} (give the target kernel's BTF with --btf FILE, Builder::btf or ${BTF_ENV})"
        ))
    }

    /// The layout of `category/name` from the first source that has it; the error says what
    /// each source answered and which options exist.
    pub fn format(&mut self, category: &str, name: &str) -> Result<Found, String> {
        let spec = format!("{category}/{name}");
        let mut tried = Vec::new();
        let mut suggestions: Vec<String> = Vec::new();
        // A BTF layout with dynamic arrays of unknown element type, kept in case no later
        // source (tracefs) can say whether they are strings.
        let mut partial: Option<Found> = None;
        let only_events_dir =
            self.sources.len() == 1 && matches!(self.sources[0].0, LayoutSource::EventsDir(_));
        for (source, loaded) in &mut self.sources {
            match source {
                LayoutSource::EventsDir(dir) => match tracepoint::load_format(dir, &spec) {
                    Ok(format) => {
                        let input = dir.join(category).join(name).join("format");
                        return Ok(Found { format, input });
                    }
                    // A directory the user chose alone: its own error says it all, as before.
                    Err(e) if only_events_dir => return Err(e.to_string()),
                    Err(e @ TpError::BadSpec { .. }) => return Err(e.to_string()),
                    Err(TpError::UnknownTracepoint {
                        suggestions: s,
                        dir,
                        ..
                    }) => {
                        suggestions.extend(s);
                        tried.push(format!(
                            "{}: no {}",
                            source_name(&LayoutSource::EventsDir(dir.clone())),
                            dir.join(&spec).join("format").display()
                        ));
                    }
                    Err(TpError::NoEventsDir { dir, .. }) => tried.push(format!(
                        "format files: {} does not exist (tracefs is not mounted)",
                        dir.display()
                    )),
                    Err(e) => tried.push(format!("format files: {e}")),
                },
                LayoutSource::Btf(path) => {
                    let events =
                        loaded.get_or_insert_with(|| Btf::from_file(path).map(BtfEvents::new));
                    let events = match events {
                        Ok(ev) => ev,
                        Err(e) => {
                            tried.push(format!("BTF: {e}"));
                            continue;
                        }
                    };
                    match events.format(category, name) {
                        Ok(format) if events::is_incomplete(&format) && partial.is_none() => {
                            partial = Some(Found {
                                format,
                                input: path.clone(),
                            });
                        }
                        Ok(format) => {
                            return Ok(Found {
                                format,
                                input: path.clone(),
                            })
                        }
                        Err(e) => {
                            if matches!(e, EventError::NotFound(_)) {
                                suggestions.extend(events.suggest(category, name));
                            }
                            tried.push(format!("BTF {}: {e}", path.display()));
                        }
                    }
                }
            }
        }
        if let Some(found) = partial {
            return Ok(found);
        }
        suggestions.sort();
        suggestions.dedup();
        let mut msg = format!("unknown tracepoint `{spec}`: {}", tried.join("; "));
        if !suggestions.is_empty() {
            msg.push_str(&format!("; did you mean: {}?", suggestions.join(", ")));
        }
        if self.explicit {
            msg.push_str(&format!(
                " (layouts were taken only from {}, as chosen with --btf/--events-dir or ${}/${})",
                self.sources
                    .iter()
                    .map(|(s, _)| s.describe())
                    .collect::<Vec<_>>()
                    .join(" and "),
                BTF_ENV,
                tracepoint::EVENTS_DIR_ENV
            ));
        } else {
            msg.push_str(&format!(
                " (to build for another kernel, give its BTF with --btf FILE or its format files \
                 with --events-dir DIR: Builder::btf / Builder::events_dir, ${BTF_ENV} / ${})",
                tracepoint::EVENTS_DIR_ENV
            ));
        }
        Err(msg)
    }
}

fn source_name(s: &LayoutSource) -> &'static str {
    match s {
        LayoutSource::Btf(_) => "BTF",
        LayoutSource::EventsDir(_) => "format files",
    }
}
