//! Compiles the probe corpus the way users do, so the generated bindings of every corpus probe
//! are compiled (and their layout assertions checked) by rustc.

fn main() {
    ljbpf_build::Builder::new()
        .probe_dir("corpus")
        .build_or_exit();
}
