//! The BPF helper functions ljbpf calls: one table (id, name, argument count), from
//! `include/uapi/linux/bpf.h` (`___BPF_FUNC_MAPPER`, Linux 6.18).

macro_rules! helpers {
    ($($variant:ident = $id:literal, $name:literal, $args:literal;)*) => {
        /// A kernel helper function.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Helper {
            $(
                #[doc = concat!("`", $name, "`")]
                $variant,
            )*
        }

        impl Helper {
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
        }
    };
}

helpers! {
    MapLookupElem = 1, "bpf_map_lookup_elem", 2;
    MapUpdateElem = 2, "bpf_map_update_elem", 4;
    MapDeleteElem = 3, "bpf_map_delete_elem", 2;
    ProbeRead = 4, "bpf_probe_read", 3;
    KtimeGetNs = 5, "bpf_ktime_get_ns", 0;
    TracePrintk = 6, "bpf_trace_printk", 5;
    GetPrandomU32 = 7, "bpf_get_prandom_u32", 0;
    GetSmpProcessorId = 8, "bpf_get_smp_processor_id", 0;
    GetCurrentPidTgid = 14, "bpf_get_current_pid_tgid", 0;
    GetCurrentUidGid = 15, "bpf_get_current_uid_gid", 0;
    GetCurrentComm = 16, "bpf_get_current_comm", 2;
    PerfEventOutput = 25, "bpf_perf_event_output", 5;
    SkbLoadBytes = 26, "bpf_skb_load_bytes", 4;
    GetStackid = 27, "bpf_get_stackid", 3;
    ProbeReadUser = 112, "bpf_probe_read_user", 3;
    ProbeReadKernel = 113, "bpf_probe_read_kernel", 3;
    ProbeReadUserStr = 114, "bpf_probe_read_user_str", 3;
    ProbeReadKernelStr = 115, "bpf_probe_read_kernel_str", 3;
    RingbufOutput = 130, "bpf_ringbuf_output", 4;
}
