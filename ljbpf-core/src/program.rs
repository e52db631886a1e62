//! The program kinds a probe file can declare: one table of facts per kind (Lua constructor,
//! ELF section, kernel program type, context, default verdict, test-run support), and
//! [`ProgramKind`], a declared program's kind with its attach target — the same type in the
//! compiler, the generated bindings (as statics), the runtime and the CLI.
//! Kernel numbers from `include/uapi/linux/bpf.h` (`enum bpf_prog_type`), Linux 6.18.

use std::borrow::Cow;
use std::fmt;

use crate::context::Context;

/// A name in a [`ProgramKind`]: borrowed in generated statics, owned in the compiler and CLI.
pub type Name = Cow<'static, str>;

/// Which memory a program's pointers point into (what `ffi.cast` pointers are read with).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Memory {
    /// Kernel memory: `bpf_probe_read_kernel`.
    Kernel,
    /// The traced process's memory: `bpf_probe_read_user`.
    User,
}

macro_rules! program_classes {
    ($($variant:ident = $name:literal, $ctor:literal, $section:literal, $prog_type:literal,
       $context:ident, $memory:ident, $default_return:literal, $test_run:literal,
       $since:literal;)*) => {
        /// A program kind without its attach target: the row of the table.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum ProgramClass {
            $(
                #[doc = concat!("`", $ctor, "`: `BPF_PROG_TYPE_` number ", $prog_type, ".")]
                $variant,
            )*
        }

        impl ProgramClass {
            /// Every class, in table order.
            pub const ALL: &'static [ProgramClass] = &[$(ProgramClass::$variant,)*];

            /// Short lowercase name used in reports (`tracepoint`, `socket_filter`, ...).
            pub fn name(self) -> &'static str {
                match self { $(ProgramClass::$variant => $name,)* }
            }

            /// The Lua constructor that declares it.
            pub fn constructor(self) -> &'static str {
                match self { $(ProgramClass::$variant => $ctor,)* }
            }

            /// The first part of its ELF section name (what aya and libbpf read the kind from).
            pub fn section_prefix(self) -> &'static str {
                match self { $(ProgramClass::$variant => $section,)* }
            }

            /// The kernel's `BPF_PROG_TYPE_*` number.
            pub fn prog_type(self) -> u32 {
                match self { $(ProgramClass::$variant => $prog_type,)* }
            }

            /// What its first parameter (R1 at entry) points to.
            pub fn context(self) -> Context {
                match self { $(ProgramClass::$variant => Context::$context,)* }
            }

            /// Which memory pointers read through `ffi.cast` point into.
            pub fn memory(self) -> Memory {
                match self { $(ProgramClass::$variant => Memory::$memory,)* }
            }

            /// What the program returns when it ends without a value, or when a packet read
            /// falls outside the packet.
            pub fn default_return(self) -> i32 {
                match self { $(ProgramClass::$variant => $default_return,)* }
            }

            /// Whether the kernel can run it with `BPF_PROG_TEST_RUN`.
            pub fn test_run(self) -> bool {
                match self { $(ProgramClass::$variant => $test_run,)* }
            }

            /// The first Linux version that has it, `major.minor`.
            pub fn since(self) -> &'static str {
                match self { $(ProgramClass::$variant => $since,)* }
            }
        }
    };
}

program_classes! {
    // variant   = name,            constructor,      section,      type, context,          memory, ret, test-run, since
    Tracepoint   = "tracepoint",    "bpf.tracepoint", "tracepoint",  5, TracepointRecord, Kernel, 0, false, "4.7";
    SocketFilter = "socket_filter", "bpf.socket",     "socket",      1, Skb,              Kernel, 0, true, "3.19";
    Kprobe       = "kprobe",        "bpf.kprobe",     "kprobe",      2, PtRegs,           Kernel, 0, false, "4.1";
    Kretprobe    = "kretprobe",     "bpf.kprobe",     "kretprobe",   2, PtRegs,           Kernel, 0, false, "4.1";
    Uprobe       = "uprobe",        "bpf.uprobe",     "uprobe",      2, PtRegs,           User,   0, false, "4.3";
    Uretprobe    = "uretprobe",     "bpf.uprobe",     "uretprobe",   2, PtRegs,           User,   0, false, "4.3";
}

/// What a program attaches to, as declared in the probe file.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ProgramKind {
    /// `bpf.tracepoint('category/name', fn)`: `/sys/kernel/tracing/events/<category>/<name>`.
    Tracepoint {
        /// Event category, e.g. `syscalls`.
        category: Name,
        /// Event name, e.g. `sys_enter_openat`.
        name: Name,
    },
    /// `bpf.socket([iface,] fn)` or `bpf(fn)`.
    SocketFilter {
        /// Interface to open an `AF_PACKET` socket on; `None` means the caller attaches the
        /// filter to a socket of its own.
        iface: Option<Name>,
    },
    /// `bpf.kprobe('[name:]function', fn, retprobe)`.
    Kprobe {
        /// Kernel function name.
        function: Name,
        /// `true` for a kretprobe (function return).
        ret: bool,
    },
    /// `bpf.uprobe('path:symbol', fn, retprobe)`.
    Uprobe {
        /// Path of the binary or library.
        path: Name,
        /// Symbol to probe.
        symbol: Name,
        /// `true` for a uretprobe (function return).
        ret: bool,
    },
}

impl ProgramKind {
    /// The row of the program-kind table.
    pub fn class(&self) -> ProgramClass {
        match self {
            ProgramKind::Tracepoint { .. } => ProgramClass::Tracepoint,
            ProgramKind::SocketFilter { .. } => ProgramClass::SocketFilter,
            ProgramKind::Kprobe { ret: false, .. } => ProgramClass::Kprobe,
            ProgramKind::Kprobe { ret: true, .. } => ProgramClass::Kretprobe,
            ProgramKind::Uprobe { ret: false, .. } => ProgramClass::Uprobe,
            ProgramKind::Uprobe { ret: true, .. } => ProgramClass::Uretprobe,
        }
    }

    /// Short lowercase name of the kind (`tracepoint`, `socket_filter`, `kretprobe`, ...).
    pub fn as_str(&self) -> &'static str {
        self.class().name()
    }

    /// The ELF section of a program of this kind, in the forms both aya-obj
    /// (`ProgramSection::from_str`: only the part before the first `/` counts) and libbpf 1.x
    /// (`section_defs` in tools/lib/bpf/libbpf.c) accept: `tracepoint/<category>/<name>`,
    /// `kprobe/<function>`, `uprobe/<path>:<symbol>` (libbpf's auto-attach form; an absolute
    /// path gives `uprobe//usr/bin/bash:readline`), and exactly `socket` for socket filters
    /// (libbpf's `SEC_DEF("socket", ...)` takes no suffix: `socket/<name>` is "failed to guess
    /// program type"). Programs with the same section share it.
    pub fn section(&self) -> String {
        let prefix = self.class().section_prefix();
        match self {
            ProgramKind::Tracepoint { category, name } => format!("{prefix}/{category}/{name}"),
            ProgramKind::Kprobe { function, .. } => format!("{prefix}/{function}"),
            ProgramKind::SocketFilter { .. } => prefix.to_string(),
            ProgramKind::Uprobe { path, symbol, .. } => format!("{prefix}/{path}:{symbol}"),
        }
    }

    /// Human-readable attach target, e.g. `tracepoint syscalls/sys_enter_getpid`.
    pub fn target(&self) -> String {
        let kind = self.as_str();
        match self {
            ProgramKind::Tracepoint { category, name } => format!("{kind} {category}/{name}"),
            ProgramKind::SocketFilter { iface: Some(iface) } => format!("socket filter on {iface}"),
            ProgramKind::SocketFilter { iface: None } => "socket filter".to_string(),
            ProgramKind::Kprobe { function, .. } => format!("{kind} {function}"),
            ProgramKind::Uprobe { path, symbol, .. } => format!("{kind} {path}:{symbol}"),
        }
    }
}

impl fmt::Display for ProgramKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.target())
    }
}
