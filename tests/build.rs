//! Compiles the probe corpus the way users do, so the generated bindings of every corpus probe
//! are compiled (and their layout assertions checked) by rustc; `names/` holds probes whose
//! names are Rust keywords, whose bindings must compile too.

fn main() {
    ljbpf_build::Builder::new()
        .probe_dir("corpus")
        .probe_dir("names")
        .build_or_exit();
}
