//! The corpus probes as users see them: modules generated at build time by `build.rs`.

ljbpf_runtime::include_probe!("andor");
ljbpf_runtime::include_probe!("arith");
ljbpf_runtime::include_probe!("bits");
ljbpf_runtime::include_probe!("cgroup_skb");
ljbpf_runtime::include_probe!("builtins");
ljbpf_runtime::include_probe!("compare");
ljbpf_runtime::include_probe!("events");
ljbpf_runtime::include_probe!("fork");
ljbpf_runtime::include_probe!("kprobe");
ljbpf_runtime::include_probe!("packet");
ljbpf_runtime::include_probe!("sched");
ljbpf_runtime::include_probe!("structs");
ljbpf_runtime::include_probe!("syscount");
ljbpf_runtime::include_probe!("tc");
ljbpf_runtime::include_probe!("write");
ljbpf_runtime::include_probe!("raw_tp");
ljbpf_runtime::include_probe!("tp_btf");
ljbpf_runtime::include_probe!("fentry");
ljbpf_runtime::include_probe!("perf_event");
ljbpf_runtime::include_probe!("xdp");
