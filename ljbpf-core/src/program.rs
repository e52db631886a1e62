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
       $context:ident, $memory:ident, $packet:ident, $default_return:literal, $test_run:literal,
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
    // variant   = name,            constructor,      section,      type, context,          memory, packet,   ret, test-run, since
    Tracepoint   = "tracepoint",    "bpf.tracepoint", "tracepoint",  5, TracepointRecord, Kernel, None,     0, false, "4.7";
    SocketFilter = "socket_filter", "bpf.socket",     "socket",      1, Skb,              Kernel, LdAbs,    0, true, "3.19";
    Kprobe       = "kprobe",        "bpf.kprobe",     "kprobe",      2, PtRegs,           Kernel, None,     0, false, "4.1";
    Kretprobe    = "kretprobe",     "bpf.kprobe",     "kretprobe",   2, PtRegs,           Kernel, None,     0, false, "4.1";
    Uprobe       = "uprobe",        "bpf.uprobe",     "uprobe",      2, PtRegs,           User,   None,     0, false, "4.3";
    Uretprobe    = "uretprobe",     "bpf.uprobe",     "uretprobe",   2, PtRegs,           User,   None,     0, false, "4.3";
    Xdp          = "xdp",           "bpf.xdp",        "xdp",         6, XdpMd,            Kernel, DirectL2, 2, true, "4.8";
    Tc           = "tc",            "bpf.tc",         "classifier",  3, Skb,              Kernel, DirectL2, 0, true, "4.7";
    CgroupSkb    = "cgroup_skb",    "bpf.cgroup_skb", "cgroup_skb",  8, Skb,              Kernel, DirectL3, 1, true, "5.2";
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
            | ProgramKind::Uprobe { .. } => true,
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
            | ProgramKind::Tc { .. } => None,
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
    /// skb programs in `cgroup_skb/ingress` or `cgroup_skb/egress`.
    pub fn section(&self) -> String {
        let prefix = self.class().section_prefix();
        match self {
            ProgramKind::Tracepoint { category, name } => format!("{prefix}/{category}/{name}"),
            ProgramKind::Kprobe { function, .. } => format!("{prefix}/{function}"),
            ProgramKind::SocketFilter { .. } | ProgramKind::Xdp { .. } | ProgramKind::Tc { .. } => {
                prefix.to_string()
            }
            ProgramKind::Uprobe { path, symbol, .. } => format!("{prefix}/{path}:{symbol}"),
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
