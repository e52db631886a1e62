//! The BPF helper functions ljbpf calls: one table (id, name, argument count, result, first
//! kernel), from `include/uapi/linux/bpf.h` (`___BPF_FUNC_MAPPER`, Linux 6.18) and the kernel
//! versions that introduced each helper (the `bpf-helpers(7)` man page, commit history).

/// What a helper leaves in R0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HelperResult {
    /// An integer (a value, or 0 / a negative errno).
    Int,
    /// A pointer to a map value, or NULL.
    MapValueOrNull,
}

macro_rules! helpers {
    ($($variant:ident = $id:literal, $name:literal, $args:literal, $result:ident, $since:literal;)*) => {
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

            /// How many of R1..R5 it reads.
            pub fn args(self) -> u8 {
                match self { $(Helper::$variant => $args,)* }
            }

            /// What it returns in R0.
            pub fn result(self) -> HelperResult {
                match self { $(Helper::$variant => HelperResult::$result,)* }
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
    MapLookupElem = 1, "bpf_map_lookup_elem", 2, MapValueOrNull, "3.19";
    MapUpdateElem = 2, "bpf_map_update_elem", 4, Int, "3.19";
    MapDeleteElem = 3, "bpf_map_delete_elem", 2, Int, "3.19";
    ProbeRead = 4, "bpf_probe_read", 3, Int, "4.1";
    KtimeGetNs = 5, "bpf_ktime_get_ns", 0, Int, "4.1";
    TracePrintk = 6, "bpf_trace_printk", 5, Int, "4.1";
    GetPrandomU32 = 7, "bpf_get_prandom_u32", 0, Int, "4.1";
    GetSmpProcessorId = 8, "bpf_get_smp_processor_id", 0, Int, "4.1";
    GetCurrentPidTgid = 14, "bpf_get_current_pid_tgid", 0, Int, "4.2";
    GetCurrentUidGid = 15, "bpf_get_current_uid_gid", 0, Int, "4.2";
    GetCurrentComm = 16, "bpf_get_current_comm", 2, Int, "4.2";
    PerfEventOutput = 25, "bpf_perf_event_output", 5, Int, "4.4";
    SkbLoadBytes = 26, "bpf_skb_load_bytes", 4, Int, "4.5";
    GetStackid = 27, "bpf_get_stackid", 3, Int, "4.6";
    ProbeReadUser = 112, "bpf_probe_read_user", 3, Int, "5.5";
    ProbeReadKernel = 113, "bpf_probe_read_kernel", 3, Int, "5.5";
    ProbeReadUserStr = 114, "bpf_probe_read_user_str", 3, Int, "5.5";
    ProbeReadKernelStr = 115, "bpf_probe_read_kernel_str", 3, Int, "5.5";
    RingbufOutput = 130, "bpf_ringbuf_output", 4, Int, "5.8";
}
