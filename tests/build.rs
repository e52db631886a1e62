//! Compiles the probe corpus the way users do, so the generated bindings of every corpus probe
//! are compiled (and their layout assertions checked) by rustc; `names/` holds probes whose
//! names are Rust keywords, whose bindings must compile too; `rejected/` holds probes that
//! compile but that the verifier rejects (for the runtime's error reports).

fn main() {
    ljbpf_build::Builder::new()
        .probe_dir("corpus")
        .probe_dir("names")
        .probe_dir("rejected")
        .build_or_exit();
}
