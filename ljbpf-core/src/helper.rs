//! The BPF helper functions ljbpf calls: one table (id, name, argument kinds, result, first
//! kernel), from `include/uapi/linux/bpf.h` (`___BPF_FUNC_MAPPER`, Linux 6.18) and the kernel
//! versions that introduced each helper (the `bpf-helpers(7)` man page, commit history).

use crate::program::ProgramClass;

/// What a helper does with one argument register (`R1` first), as far as stack memory goes:
/// which pointer arguments it reads, and how many bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArgKind {
    /// A value, the context or a map: no stack memory is read through it.
    Value,
    /// A map key: reads the key size of the map in `R1`.
    MapKey,
    /// A map value: reads the value size of the map in `R1`.
    MapValue,
    /// Memory it reads, as many bytes as argument register `R<n>` says.
    Reads(u8),
    /// Memory it writes (reads nothing there).
    Writes,
    /// An address it reads through with probe-read semantics, as many bytes as `R<n>` says.
    ReadsUnsafe(u8),
}

/// Whether a helper may change what a program reads without a store of its own: the packet's
/// bytes or the context's fields. The kernel's list of the first is `bpf_helper_changes_pkt_data`
/// (net/core/filter.c); fields such as `skb->hash` are set by others (`bpf_set_hash`). A value
/// loaded from the packet or the context before a call that keeps them is still what a load
/// after it would give.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Effect {
    /// Neither the packet nor the context changes.
    Keeps,
    /// The packet's bytes or the context's fields may change.
    Changes,
}

/// What a helper leaves in R0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HelperResult {
    /// An integer (a value, or 0 / a negative errno).
    Int,
    /// A pointer to a map value, or NULL.
    MapValueOrNull,
}

macro_rules! helpers {
    ($($variant:ident = $id:literal, $name:literal, [$($arg:ident $(($n:literal))?),*], $result:ident, $effect:ident, $since:literal;)*) => {
        /// A kernel helper function.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Helper {
            $(
                #[doc = concat!("`", $name, "` (Linux ", $since, ")")]
                $variant,
            )*
        }

        impl Helper {
            /// Every helper of the table.
            pub const ALL: &'static [Helper] = &[$(Helper::$variant,)*];

            /// The helper's number (`BPF_FUNC_*`).
            pub fn id(self) -> u32 {
                match self { $(Helper::$variant => $id,)* }
            }

            /// The helper's kernel name.
            pub fn name(self) -> &'static str {
                match self { $(Helper::$variant => $name,)* }
            }

            /// What it does with each argument register, R1 first.
            pub fn arg_kinds(self) -> &'static [ArgKind] {
                match self { $(Helper::$variant => &[$(ArgKind::$arg $(($n))?),*],)* }
            }

            /// How many of R1..R5 it reads.
            pub fn args(self) -> u8 {
                self.arg_kinds().len() as u8
            }

            /// What it returns in R0.
            pub fn result(self) -> HelperResult {
                match self { $(Helper::$variant => HelperResult::$result,)* }
            }

            /// Whether a call may change the packet or the context's fields.
            pub fn effect(self) -> Effect {
                match self { $(Helper::$variant => Effect::$effect,)* }
            }

            /// The first Linux version that has it, as `"major.minor"`.
            pub fn since(self) -> &'static str {
                match self { $(Helper::$variant => $since,)* }
            }

            /// The helper with number `id`.
            pub fn from_id(id: u32) -> Option<Helper> {
                match id { $($id => Some(Helper::$variant),)* _ => None }
            }
        }
    };
}

helpers! {
    MapLookupElem = 1, "bpf_map_lookup_elem", [Value, MapKey], MapValueOrNull, Keeps, "3.19";
    MapUpdateElem = 2, "bpf_map_update_elem", [Value, MapKey, MapValue, Value], Int, Keeps, "3.19";
    MapDeleteElem = 3, "bpf_map_delete_elem", [Value, MapKey], Int, Keeps, "3.19";
    ProbeRead = 4, "bpf_probe_read", [Writes, Value, ReadsUnsafe(2)], Int, Keeps, "4.1";
    KtimeGetNs = 5, "bpf_ktime_get_ns", [], Int, Keeps, "4.1";
    TracePrintk = 6, "bpf_trace_printk", [Reads(2), Value, Value, Value, Value], Int, Keeps, "4.1";
    GetPrandomU32 = 7, "bpf_get_prandom_u32", [], Int, Keeps, "4.1";
    GetSmpProcessorId = 8, "bpf_get_smp_processor_id", [], Int, Keeps, "4.1";
    GetCurrentPidTgid = 14, "bpf_get_current_pid_tgid", [], Int, Keeps, "4.2";
    GetCurrentUidGid = 15, "bpf_get_current_uid_gid", [], Int, Keeps, "4.2";
    GetCurrentComm = 16, "bpf_get_current_comm", [Writes, Value], Int, Keeps, "4.2";
    Redirect = 23, "bpf_redirect", [Value, Value], Int, Keeps, "4.4";
    PerfEventOutput = 25, "bpf_perf_event_output", [Value, Value, Value, Reads(5), Value], Int, Keeps, "4.4";
    SkbLoadBytes = 26, "bpf_skb_load_bytes", [Value, Value, Writes, Value], Int, Keeps, "4.5";
    GetStackid = 27, "bpf_get_stackid", [Value, Value, Value], Int, Keeps, "4.6";
    ProbeReadUser = 112, "bpf_probe_read_user", [Writes, Value, ReadsUnsafe(2)], Int, Keeps, "5.5";
    ProbeReadKernel = 113, "bpf_probe_read_kernel", [Writes, Value, ReadsUnsafe(2)], Int, Keeps, "5.5";
    ProbeReadUserStr = 114, "bpf_probe_read_user_str", [Writes, Value, ReadsUnsafe(2)], Int, Keeps, "5.5";
    ProbeReadKernelStr = 115, "bpf_probe_read_kernel_str", [Writes, Value, ReadsUnsafe(2)], Int, Keeps, "5.5";
    RedirectMap = 51, "bpf_redirect_map", [Value, Value, Value], Int, Keeps, "4.14";
    RingbufOutput = 130, "bpf_ringbuf_output", [Value, Reads(3), Value, Value], Int, Keeps, "5.8";
}

/// Helpers only some program kinds may call (each kind's `get_func_proto` in
/// net/core/filter.c): the compiler refuses them elsewhere at the Lua line. Helpers not listed
/// here are left to the verifier.
const ONLY_IN: &[(Helper, &[ProgramClass])] = &[
    // tc_cls_act_func_proto and xdp_func_proto.
    (Helper::Redirect, &[ProgramClass::Xdp, ProgramClass::Tc]),
    // xdp_func_proto only (tc has no map redirect).
    (Helper::RedirectMap, &[ProgramClass::Xdp]),
];

impl Helper {
    /// The program kinds that may call it, when not every kind may.
    pub fn only_in(self) -> Option<&'static [ProgramClass]> {
        ONLY_IN.iter().find(|(h, _)| *h == self).map(|(_, c)| *c)
    }
}
