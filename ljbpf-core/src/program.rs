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

/// How a program reads the packet its context describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PacketAccess {
    /// It has no packet.
    None,
    /// `BPF_LD_ABS`/`BPF_LD_IND` (classic BPF loads; the kernel ends the program with 0 when a
    /// load falls outside the packet). Offset 0 is where the socket sees the packet start.
    LdAbs,
    /// Direct loads between the context's `data` and `data_end` pointers, each behind the
    /// bounds check the verifier needs (`Documentation/bpf/verifier.rst`, "Direct packet
    /// access"); the packet starts at the Ethernet header.
    DirectL2,
    /// Direct loads as in [`DirectL2`](Self::DirectL2), but the packet starts at the network
    /// (IP) header: cgroup skb programs see `skb->data` after the MAC header is pulled.
    DirectL3,
}

impl PacketAccess {
    /// Whether packet reads are direct loads.
    pub fn direct(self) -> bool {
        matches!(self, PacketAccess::DirectL2 | PacketAccess::DirectL3)
    }
}

macro_rules! program_classes {
    ($($variant:ident = $name:literal, $ctor:literal, $section:literal, $prog_type:literal,
       $context:ident, $memory:ident, $packet:ident, $default_return:literal, $return_bits:literal,
       $test_run:literal, $since:literal;)*) => {
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

            /// How it reads its packet.
            pub fn packet(self) -> PacketAccess {
                match self { $(ProgramClass::$variant => PacketAccess::$packet,)* }
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

            /// How many low bits of R0 at `exit` count: what the kernel's caller of the program
            /// reads, and what the verifier checks.
            pub fn return_bits(self) -> u8 {
                match self { $(ProgramClass::$variant => $return_bits,)* }
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
    // The default return of the packet kinds is their "let it through" verdict: XDP_PASS,
    // TC_ACT_OK, 1 (allow) for cgroup skb; a packet read past the end returns it too.
    // Direct packet access from cgroup skb programs: Linux 5.2 (commit b39b5f411dcf).
    // `bits`: the low bits of R0 that count. The kernel runs a program through
    // `bpf_prog_run`, which returns `u32` (include/linux/filter.h), and for these kinds
    // `check_return_code` (kernel/bpf/verifier.c, 6.1) checks nothing: 32. It checks the whole
    // 64-bit register against a range for cgroup kinds (cgroup skb: 0 or 1 on 6.1, 0 to 3
    // later) and for tracing programs (fentry/fexit: 0; raw tracepoints with a BTF target:
    // 0): 64, and 64 wherever in doubt (tp_btf, raw tracepoints).
    // variant   = name,            constructor,      section,      type, context,          memory, packet,   ret, bits, test-run, since
    Tracepoint   = "tracepoint",    "bpf.tracepoint", "tracepoint",  5, TracepointRecord, Kernel, None,     0, 32, false, "4.7";
    SocketFilter = "socket_filter", "bpf.socket",     "socket",      1, Skb,              Kernel, LdAbs,    0, 32, true, "3.19";
    Kprobe       = "kprobe",        "bpf.kprobe",     "kprobe",      2, PtRegs,           Kernel, None,     0, 32, false, "4.1";
    Kretprobe    = "kretprobe",     "bpf.kprobe",     "kretprobe",   2, PtRegs,           Kernel, None,     0, 32, false, "4.1";
    Uprobe       = "uprobe",        "bpf.uprobe",     "uprobe",      2, PtRegs,           User,   None,     0, 32, false, "4.3";
    Uretprobe    = "uretprobe",     "bpf.uprobe",     "uretprobe",   2, PtRegs,           User,   None,     0, 32, false, "4.3";
    Xdp          = "xdp",           "bpf.xdp",        "xdp",         6, XdpMd,            Kernel, DirectL2, 2, 32, true, "4.8";
    Tc           = "tc",            "bpf.tc",         "classifier",  3, Skb,              Kernel, DirectL2, 0, 32, true, "4.7";
    CgroupSkb    = "cgroup_skb",    "bpf.cgroup_skb", "cgroup_skb",  8, Skb,              Kernel, DirectL3, 1, 64, true, "5.2";
    // BPF_PROG_TYPE_RAW_TRACEPOINT: BPF_PROG_TEST_RUN runs it on a `u64` argument array since
    // 5.10 (net/bpf/test_run.c, bpf_prog_test_run_raw_tp); the kind itself is 4.17.
    RawTracepoint = "raw_tracepoint", "bpf.raw_tracepoint", "raw_tp", 17, RawArgs,      Kernel, None,     0, 64, true, "4.17";
    // BPF_PROG_TYPE_TRACING with attach type BPF_TRACE_RAW_TP, BPF_TRACE_FENTRY and
    // BPF_TRACE_FEXIT: the target is a BTF id of the loading kernel (5.5, x86-64 JIT only).
    // BPF_PROG_TEST_RUN of tracing programs only calls the kernel's own bpf_fentry_test*
    // functions, so it tests nothing a probe attaches to: no test-run.
    TpBtf        = "tp_btf",        "bpf.tp_btf",     "tp_btf",     26, BtfArgs,          Kernel, None,     0, 64, false, "5.5";
    Fentry       = "fentry",        "bpf.fentry",     "fentry",     26, BtfArgs,          Kernel, None,     0, 64, false, "5.5";
    Fexit        = "fexit",         "bpf.fexit",      "fexit",      26, BtfArgs,          Kernel, None,     0, 64, false, "5.5";
    PerfEvent    = "perf_event",    "bpf.perf_event", "perf_event",  7, PerfEventData,    Kernel, None,     0, 32, false, "4.9";
}

/// The verdicts a program of a packet kind returns, as the names program functions see
/// (include/uapi/linux/bpf.h `enum xdp_action`, include/uapi/linux/pkt_cls.h `TC_ACT_*`; a
/// cgroup skb program returns 1 to let the packet through and 0 to drop it,
/// `enum sk_action` names them `SK_DROP` and `SK_PASS`).
pub const VERDICTS: &[(ProgramClass, &str, i32)] = &[
    (ProgramClass::Xdp, "XDP_ABORTED", 0),
    (ProgramClass::Xdp, "XDP_DROP", 1),
    (ProgramClass::Xdp, "XDP_PASS", 2),
    (ProgramClass::Xdp, "XDP_TX", 3),
    (ProgramClass::Xdp, "XDP_REDIRECT", 4),
    (ProgramClass::Tc, "TC_ACT_UNSPEC", -1),
    (ProgramClass::Tc, "TC_ACT_OK", 0),
    (ProgramClass::Tc, "TC_ACT_RECLASSIFY", 1),
    (ProgramClass::Tc, "TC_ACT_SHOT", 2),
    (ProgramClass::Tc, "TC_ACT_PIPE", 3),
    (ProgramClass::Tc, "TC_ACT_STOLEN", 4),
    (ProgramClass::Tc, "TC_ACT_REDIRECT", 7),
    (ProgramClass::CgroupSkb, "SK_DROP", 0),
    (ProgramClass::CgroupSkb, "SK_PASS", 1),
];

/// The verdict `name` and the class it belongs to.
pub fn verdict(name: &str) -> Option<(ProgramClass, i32)> {
    VERDICTS
        .iter()
        .find(|(_, n, _)| *n == name)
        .map(|&(c, _, v)| (c, v))
}

/// Which way the packets a tc or cgroup skb program sees are going.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Received packets.
    Ingress,
    /// Sent packets.
    Egress,
}

impl Direction {
    /// `ingress` or `egress` (also the probe file's spelling).
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }

    /// The direction spelled `s`.
    pub fn parse(s: &str) -> Option<Direction> {
        match s {
            "ingress" => Some(Direction::Ingress),
            "egress" => Some(Direction::Egress),
            _ => None,
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
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
    /// `bpf.raw_tracepoint('name', fn)`: the tracepoint's arguments as `u64`s, by position.
    RawTracepoint {
        /// Tracepoint name without category, e.g. `sched_switch`.
        name: Name,
    },
    /// `bpf.tp_btf('name', fn)`: the tracepoint's arguments by name and type from the kernel's
    /// BTF (`btf_trace_<name>`).
    TpBtf {
        /// Tracepoint name without category, e.g. `sched_switch`.
        name: Name,
    },
    /// `bpf.fentry('function', fn)` or `bpf.fexit('function', fn)`: a kernel function's
    /// arguments by name and type from its BTF prototype, and at exit its return value.
    Fentry {
        /// Kernel function name.
        function: Name,
        /// `true` for fexit (function return).
        ret: bool,
    },
    /// `bpf.perf_event({ type = ..., config = ..., frequency = ... }, fn)`: runs on a perf
    /// event's samples (a software clock, a hardware counter), on every CPU.
    PerfEvent {
        /// The event to sample, as declared; the bindings may attach it with other values.
        event: PerfEventSpec,
    },
    /// `bpf.xdp([iface,] fn)`.
    Xdp {
        /// Interface to attach to; `None` means the caller names one.
        iface: Option<Name>,
    },
    /// `bpf.tc([iface, [direction,]] fn)`: a `sched_cls` program in direct-action mode on a
    /// `clsact` qdisc.
    Tc {
        /// Interface to attach to; `None` means the caller names one.
        iface: Option<Name>,
        /// Ingress or egress hook of the `clsact` qdisc.
        direction: Direction,
    },
    /// `bpf.cgroup_skb([path, [direction,]] fn)`.
    CgroupSkb {
        /// cgroup v2 directory to attach to; `None` means the caller names one.
        path: Option<Name>,
        /// Packets the cgroup's sockets receive (ingress) or send (egress); fixed at load
        /// (the ELF section `cgroup_skb/<direction>` gives the expected attach type).
        direction: Direction,
    },
}

/// A perf event to sample: `perf_event_open(2)`'s `type`, `config` and sampling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PerfEventSpec {
    /// `perf_event_attr.type` (see [`PerfType`]).
    pub perf_type: u32,
    /// `perf_event_attr.config`: which event of the type.
    pub config: u64,
    /// How often it samples.
    pub sample: Sample,
}

/// How often a perf event samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Sample {
    /// This many samples per second (`freq = 1`, `sample_freq`).
    Frequency(u64),
    /// One sample every this many events (`sample_period`).
    Period(u64),
}

macro_rules! perf_names {
    ($(#[$doc:meta])* $table:ident: $($name:literal = $value:literal,)*) => {
        $(#[$doc])*
        pub const $table: &[(&str, u64)] = &[$(($name, $value),)*];
    };
}

perf_names! {
    /// `perf_event_attr.type` names (`enum perf_type_id`, include/uapi/linux/perf_event.h).
    PERF_TYPES:
    "hardware" = 0, "software" = 1, "tracepoint" = 2, "hw_cache" = 3, "raw" = 4,
    "breakpoint" = 5,
}

perf_names! {
    /// `config` names of `software` events (`enum perf_sw_ids`).
    PERF_SOFTWARE:
    "cpu_clock" = 0, "task_clock" = 1, "page_faults" = 2, "context_switches" = 3,
    "cpu_migrations" = 4, "page_faults_min" = 5, "page_faults_maj" = 6,
    "alignment_faults" = 7, "emulation_faults" = 8, "dummy" = 9, "bpf_output" = 10,
    "cgroup_switches" = 11,
}

perf_names! {
    /// `config` names of `hardware` events (`enum perf_hw_id`).
    PERF_HARDWARE:
    "cpu_cycles" = 0, "instructions" = 1, "cache_references" = 2, "cache_misses" = 3,
    "branch_instructions" = 4, "branch_misses" = 5, "bus_cycles" = 6,
    "stalled_cycles_frontend" = 7, "stalled_cycles_backend" = 8, "ref_cpu_cycles" = 9,
}

/// `PERF_TYPE_HARDWARE`.
pub const PERF_TYPE_HARDWARE: u32 = 0;
/// `PERF_TYPE_SOFTWARE`.
pub const PERF_TYPE_SOFTWARE: u32 = 1;

impl PerfEventSpec {
    /// The number of a `type` name (`software`), or `None`.
    pub fn type_named(name: &str) -> Option<u32> {
        PERF_TYPES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, v)| v as u32)
    }

    /// The number of a `config` name of `perf_type` (`cpu_clock` of `software`), or `None`
    /// (only software and hardware events have names).
    pub fn config_named(perf_type: u32, name: &str) -> Option<u64> {
        let table = match perf_type {
            PERF_TYPE_SOFTWARE => PERF_SOFTWARE,
            PERF_TYPE_HARDWARE => PERF_HARDWARE,
            _ => return None,
        };
        table.iter().find(|(n, _)| *n == name).map(|&(_, v)| v)
    }

    /// The `config` names of `perf_type` (empty for types without names).
    pub fn config_names(perf_type: u32) -> Vec<&'static str> {
        match perf_type {
            PERF_TYPE_SOFTWARE => PERF_SOFTWARE.iter().map(|(n, _)| *n).collect(),
            PERF_TYPE_HARDWARE => PERF_HARDWARE.iter().map(|(n, _)| *n).collect(),
            _ => Vec::new(),
        }
    }

    /// `software/cpu_clock`, `hardware/3`: the event for messages.
    pub fn describe(&self) -> String {
        let ty = PERF_TYPES
            .iter()
            .find(|(_, v)| *v == u64::from(self.perf_type))
            .map_or_else(|| self.perf_type.to_string(), |(n, _)| n.to_string());
        let names = match self.perf_type {
            PERF_TYPE_SOFTWARE => PERF_SOFTWARE,
            PERF_TYPE_HARDWARE => PERF_HARDWARE,
            _ => &[],
        };
        let config = names
            .iter()
            .find(|(_, v)| *v == self.config)
            .map_or_else(|| self.config.to_string(), |(n, _)| n.to_string());
        let sample = match self.sample {
            Sample::Frequency(f) => format!("{f} Hz"),
            Sample::Period(p) => format!("every {p}"),
        };
        format!("{ty}/{config} {sample}")
    }
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
            ProgramKind::RawTracepoint { .. } => ProgramClass::RawTracepoint,
            ProgramKind::TpBtf { .. } => ProgramClass::TpBtf,
            ProgramKind::Fentry { ret: false, .. } => ProgramClass::Fentry,
            ProgramKind::Fentry { ret: true, .. } => ProgramClass::Fexit,
            ProgramKind::PerfEvent { .. } => ProgramClass::PerfEvent,
            ProgramKind::Xdp { .. } => ProgramClass::Xdp,
            ProgramKind::Tc { .. } => ProgramClass::Tc,
            ProgramKind::CgroupSkb { .. } => ProgramClass::CgroupSkb,
        }
    }

    /// Short lowercase name of the kind (`tracepoint`, `socket_filter`, `kretprobe`, ...).
    pub fn as_str(&self) -> &'static str {
        self.class().name()
    }

    /// Whether the probe file names what the program attaches to (`attach_all` attaches only
    /// those).
    pub fn has_target(&self) -> bool {
        match self {
            ProgramKind::SocketFilter { iface } | ProgramKind::Xdp { iface } => iface.is_some(),
            ProgramKind::Tc { iface, .. } => iface.is_some(),
            ProgramKind::CgroupSkb { path, .. } => path.is_some(),
            ProgramKind::Tracepoint { .. }
            | ProgramKind::Kprobe { .. }
            | ProgramKind::Uprobe { .. }
            | ProgramKind::RawTracepoint { .. }
            | ProgramKind::TpBtf { .. }
            | ProgramKind::Fentry { .. }
            | ProgramKind::PerfEvent { .. } => true,
        }
    }

    /// The return values the verifier accepts, when it limits them: cgroup skb programs
    /// return 0 or 1, egress ones also 2 and 3 (1 and 0 with congestion notification;
    /// `check_return_code` in kernel/bpf/verifier.c).
    pub fn return_range(&self) -> Option<(i64, i64)> {
        match self {
            ProgramKind::CgroupSkb {
                direction: Direction::Egress,
                ..
            } => Some((0, 3)),
            ProgramKind::CgroupSkb { .. } => Some((0, 1)),
            ProgramKind::Tracepoint { .. }
            | ProgramKind::SocketFilter { .. }
            | ProgramKind::Kprobe { .. }
            | ProgramKind::Uprobe { .. }
            | ProgramKind::Xdp { .. }
            | ProgramKind::Tc { .. }
            | ProgramKind::RawTracepoint { .. }
            | ProgramKind::TpBtf { .. }
            | ProgramKind::Fentry { .. }
            | ProgramKind::PerfEvent { .. } => None,
        }
    }

    /// The ELF section of a program of this kind, in the forms both aya-obj
    /// (`ProgramSection::from_str`: only the part before the first `/` counts) and libbpf 1.x
    /// (`section_defs` in tools/lib/bpf/libbpf.c) accept: `tracepoint/<category>/<name>`,
    /// `kprobe/<function>`, `uprobe/<path>:<symbol>` (libbpf's auto-attach form; an absolute
    /// path gives `uprobe//usr/bin/bash:readline`), and exactly `socket` for socket filters
    /// (libbpf's `SEC_DEF("socket", ...)` takes no suffix: `socket/<name>` is "failed to guess
    /// program type"). Programs with the same section share it. XDP programs are in `xdp`, tc
    /// programs in `classifier` (the name both aya and libbpf 1.x read as `sched_cls`), cgroup
    /// skb programs in `cgroup_skb/ingress` or `cgroup_skb/egress`. The tracing kinds follow
    /// libbpf's forms too: `raw_tp/<name>`, `tp_btf/<name>`, `fentry/<function>`,
    /// `fexit/<function>`, and `perf_event` without suffix.
    pub fn section(&self) -> String {
        let prefix = self.class().section_prefix();
        match self {
            ProgramKind::Tracepoint { category, name } => format!("{prefix}/{category}/{name}"),
            ProgramKind::Kprobe { function, .. } => format!("{prefix}/{function}"),
            ProgramKind::SocketFilter { .. } | ProgramKind::Xdp { .. } | ProgramKind::Tc { .. } => {
                prefix.to_string()
            }
            ProgramKind::Uprobe { path, symbol, .. } => format!("{prefix}/{path}:{symbol}"),
            ProgramKind::RawTracepoint { name } | ProgramKind::TpBtf { name } => {
                format!("{prefix}/{name}")
            }
            ProgramKind::Fentry { function, .. } => format!("{prefix}/{function}"),
            ProgramKind::PerfEvent { .. } => prefix.to_string(),
            ProgramKind::CgroupSkb { direction, .. } => format!("{prefix}/{direction}"),
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
            ProgramKind::RawTracepoint { name } | ProgramKind::TpBtf { name } => {
                format!("{kind} {name}")
            }
            ProgramKind::Fentry { function, .. } => format!("{kind} {function}"),
            ProgramKind::PerfEvent { event } => format!("{kind} {}", event.describe()),
            ProgramKind::Xdp { iface: Some(iface) } => format!("{kind} on {iface}"),
            ProgramKind::Xdp { iface: None } => kind.to_string(),
            ProgramKind::Tc {
                iface: Some(iface),
                direction,
            } => format!("{kind} {direction} on {iface}"),
            ProgramKind::Tc {
                iface: None,
                direction,
            } => format!("{kind} {direction}"),
            ProgramKind::CgroupSkb {
                path: Some(path),
                direction,
            } => format!("{kind} {direction} of {path}"),
            ProgramKind::CgroupSkb {
                path: None,
                direction,
            } => format!("{kind} {direction}"),
        }
    }
}

impl fmt::Display for ProgramKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.target())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_kinds_have_the_sections_aya_and_libbpf_read() {
        let xdp = ProgramKind::Xdp { iface: None };
        let tc = ProgramKind::Tc {
            iface: Some("eth0".into()),
            direction: Direction::Egress,
        };
        let cg = ProgramKind::CgroupSkb {
            path: None,
            direction: Direction::Egress,
        };
        assert_eq!(xdp.section(), "xdp");
        assert_eq!(tc.section(), "classifier");
        assert_eq!(cg.section(), "cgroup_skb/egress");
        assert_eq!(tc.target(), "tc egress on eth0");
        assert!(!xdp.has_target() && tc.has_target() && !cg.has_target());
        assert_eq!(cg.return_range(), Some((0, 3)));
        assert_eq!(xdp.return_range(), None);
    }

    #[test]
    fn verdicts_belong_to_their_kind_and_pass_is_the_default() {
        assert_eq!(verdict("XDP_PASS"), Some((ProgramClass::Xdp, 2)));
        assert_eq!(verdict("TC_ACT_SHOT"), Some((ProgramClass::Tc, 2)));
        assert_eq!(verdict("SK_PASS"), Some((ProgramClass::CgroupSkb, 1)));
        assert_eq!(verdict("XDP_MAYBE"), None);
        for class in [ProgramClass::Xdp, ProgramClass::Tc, ProgramClass::CgroupSkb] {
            let pass = VERDICTS
                .iter()
                .find(|(c, n, _)| *c == class && (n.ends_with("PASS") || n.ends_with("_OK")))
                .unwrap();
            assert_eq!(pass.2, class.default_return(), "{class:?}");
            assert!(class.packet().direct() && class.test_run());
        }
    }
}
