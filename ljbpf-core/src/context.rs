//! Program contexts: what R1 points to at entry, per program kind and architecture. The fields
//! a probe reads as `ctx.<name>` (`skb.<name>` in socket filters) for contexts whose layout is
//! fixed by the kernel's UAPI; tracepoint records have per-kernel layouts and come from the
//! kernel's own descriptions instead.

/// A program's context.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Context {
    /// A tracepoint record (`struct trace_event_raw_*`); layout per event and kernel.
    TracepointRecord,
    /// `struct __sk_buff` (include/uapi/linux/bpf.h).
    Skb,
    /// `struct pt_regs` of the target architecture.
    PtRegs,
    /// A raw tracepoint's arguments: `u64 args[]` (`struct bpf_raw_tracepoint_args`,
    /// include/uapi/linux/bpf.h), read as `ctx.arg0`, `ctx.arg1`, ...
    RawArgs,
    /// A BTF-typed program's arguments (tp_btf, fentry, fexit): one `u64` slot per argument
    /// of the target's prototype, then (fexit) the return value; names and types per target.
    BtfArgs,
    /// `struct bpf_perf_event_data` (include/uapi/linux/bpf_perf_event.h): the sampled
    /// registers (`bpf_user_pt_regs_t`, `struct pt_regs` on x86-64), `sample_period`, `addr`.
    PerfEventData,
    /// `struct xdp_md` (include/uapi/linux/bpf.h).
    XdpMd,
}

/// How many `u64` argument slots a raw tracepoint or BTF-typed program may read
/// (`MAX_BPF_FUNC_ARGS`, include/linux/bpf.h; `bpf_tracing_ctx_access` refuses offsets past it).
pub const MAX_ARGS: u32 = 12;

/// The names of a raw tracepoint's argument slots, `MAX_ARGS` of them.
const RAW_ARGS: [&str; MAX_ARGS as usize] = [
    "arg0", "arg1", "arg2", "arg3", "arg4", "arg5", "arg6", "arg7", "arg8", "arg9", "arg10",
    "arg11",
];

/// `struct bpf_perf_event_data` after its `regs` (8-byte fields).
const PERF_EVENT_FIELDS: &[(&str, u32)] = &[("sample_period", 168), ("addr", 176)];

/// A target architecture (what `struct pt_regs` looks like).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Arch {
    /// x86-64 (arch/x86/include/uapi/asm/ptrace.h).
    X86_64,
}

/// One readable field of a fixed-layout context.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CtxField {
    /// Byte offset in the context.
    pub offset: u32,
    /// Size in bytes.
    pub size: u32,
}

/// `struct __sk_buff` fields a socket filter may read (include/uapi/linux/bpf.h; the verifier's
/// `sk_filter_is_valid_access` allows these as 4-byte loads).
const SKB_FIELDS: &[(&str, u32)] = &[
    ("len", 0),
    ("pkt_type", 4),
    ("mark", 8),
    ("queue_mapping", 12),
    ("protocol", 16),
    ("vlan_present", 20),
    ("vlan_tci", 24),
    ("vlan_proto", 28),
    ("priority", 32),
    ("ingress_ifindex", 36),
    ("ifindex", 40),
    ("tc_index", 44),
    ("hash", 68),
];

/// `struct xdp_md` fields an XDP program may read as numbers (`xdp_is_valid_access` in
/// net/core/filter.c; `data`, `data_end` and `data_meta` are the packet pointers the dissectors
/// use, `egress_ifindex` is for devmap programs only).
const XDP_MD_FIELDS: &[(&str, u32)] = &[("ingress_ifindex", 12), ("rx_queue_index", 16)];

/// `struct __sk_buff`'s `data` and `data_end`, `struct xdp_md`'s `data` and `data_end`: 32-bit
/// loads the verifier turns into packet pointers.
const SKB_DATA: (i16, i16) = (76, 80);
const XDP_MD_DATA: (i16, i16) = (0, 4);

/// `struct pt_regs` on x86-64, in memory order, 8 bytes each (arch/x86/include/asm/ptrace.h).
const PT_REGS_X86_64: &[&str] = &[
    "r15", "r14", "r13", "r12", "bp", "bx", "r11", "r10", "r9", "r8", "ax", "cx", "dx", "si", "di",
    "orig_ax", "ip", "cs", "flags", "sp", "ss",
];

/// The reference compiler's aliases: function arguments by the x86-64 SysV calling convention,
/// the return value and the frame pointer.
const PT_REGS_ALIASES_X86_64: &[(&str, &str)] = &[
    ("parm1", "di"),
    ("parm2", "si"),
    ("parm3", "dx"),
    ("parm4", "cx"),
    ("parm5", "r8"),
    ("ret", "ax"),
    ("fp", "bp"),
];

impl Context {
    /// The C name of the context type, for messages.
    pub fn c_name(self) -> &'static str {
        match self {
            Context::TracepointRecord => "the tracepoint record",
            Context::Skb => "struct __sk_buff",
            Context::PtRegs => "struct pt_regs",
            Context::RawArgs => "struct bpf_raw_tracepoint_args",
            Context::BtfArgs => "the target's arguments",
            Context::PerfEventData => "struct bpf_perf_event_data",
            Context::XdpMd => "struct xdp_md",
        }
    }

    /// Offsets of the `data` and `data_end` fields, for contexts with a packet.
    pub fn data_pointers(self) -> Option<(i16, i16)> {
        match self {
            Context::Skb => Some(SKB_DATA),
            Context::XdpMd => Some(XDP_MD_DATA),
            Context::TracepointRecord
            | Context::PtRegs
            | Context::RawArgs
            | Context::BtfArgs
            | Context::PerfEventData => None,
        }
    }

    /// Field `name` of a fixed-layout context; `None` for tracepoint records (their layout is
    /// per event) and for names the context does not have.
    pub fn field(self, arch: Arch, name: &str) -> Option<CtxField> {
        match self {
            Context::TracepointRecord | Context::BtfArgs => None,
            Context::RawArgs => RAW_ARGS.iter().position(|a| *a == name).map(|n| CtxField {
                offset: n as u32 * 8,
                size: 8,
            }),
            Context::PerfEventData => PERF_EVENT_FIELDS
                .iter()
                .find(|(n, _)| *n == name)
                .map(|&(_, offset)| CtxField { offset, size: 8 })
                .or_else(|| Context::PtRegs.field(arch, name)),
            Context::Skb | Context::XdpMd => self
                .u32_fields()
                .iter()
                .find(|(n, _)| *n == name)
                .map(|&(_, offset)| CtxField { offset, size: 4 }),
            Context::PtRegs => {
                let Arch::X86_64 = arch;
                let name = PT_REGS_ALIASES_X86_64
                    .iter()
                    .find(|(alias, _)| *alias == name)
                    .map_or(name, |(_, reg)| reg);
                PT_REGS_X86_64
                    .iter()
                    .position(|r| *r == name)
                    .map(|i| CtxField {
                        offset: i as u32 * 8,
                        size: 8,
                    })
            }
        }
    }

    fn u32_fields(self) -> &'static [(&'static str, u32)] {
        match self {
            Context::Skb => SKB_FIELDS,
            Context::XdpMd => XDP_MD_FIELDS,
            Context::TracepointRecord
            | Context::PtRegs
            | Context::RawArgs
            | Context::BtfArgs
            | Context::PerfEventData => &[],
        }
    }

    /// Every field name of a fixed-layout context (aliases included), for "did you mean" lists.
    pub fn field_names(self, arch: Arch) -> Vec<&'static str> {
        match self {
            Context::TracepointRecord | Context::BtfArgs => Vec::new(),
            Context::RawArgs => RAW_ARGS.to_vec(),
            Context::PerfEventData => {
                let mut names: Vec<&str> = PERF_EVENT_FIELDS.iter().map(|(n, _)| *n).collect();
                names.extend(Context::PtRegs.field_names(arch));
                names
            }
            Context::Skb | Context::XdpMd => self.u32_fields().iter().map(|(n, _)| *n).collect(),
            Context::PtRegs => {
                let Arch::X86_64 = arch;
                let mut names = PT_REGS_X86_64.to_vec();
                names.extend(PT_REGS_ALIASES_X86_64.iter().map(|(a, _)| *a));
                names
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pt_regs_aliases_name_the_abi_registers() {
        let off = |n| Context::PtRegs.field(Arch::X86_64, n).unwrap().offset;
        assert_eq!(off("di"), 112);
        assert_eq!(off("parm1"), off("di"));
        assert_eq!(off("ret"), off("ax"));
        assert_eq!(off("ax"), 80);
        assert_eq!(off("ss"), 160);
        assert!(Context::PtRegs.field(Arch::X86_64, "eax").is_none());
    }

    #[test]
    fn raw_args_are_eight_byte_slots() {
        let f = |n| Context::RawArgs.field(Arch::X86_64, n).map(|f| f.offset);
        assert_eq!(f("arg0"), Some(0));
        assert_eq!(f("arg11"), Some(88));
        assert_eq!(f("arg12"), None);
        assert_eq!(f("arg01"), None);
        assert_eq!(f("args"), None);
    }

    #[test]
    fn perf_event_data_has_regs_then_the_period() {
        let f = |n| {
            Context::PerfEventData
                .field(Arch::X86_64, n)
                .unwrap()
                .offset
        };
        assert_eq!(f("ip"), 128);
        assert_eq!(f("sample_period"), 168);
        assert_eq!(f("addr"), 176);
    }

    #[test]
    fn skb_fields_are_four_bytes() {
        let f = Context::Skb.field(Arch::X86_64, "hash").unwrap();
        assert_eq!((f.offset, f.size), (68, 4));
        assert!(Context::Skb.field(Arch::X86_64, "data").is_none());
    }
}
