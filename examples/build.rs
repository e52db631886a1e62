//! Compiles the example tools' probe files into ELF objects and Rust bindings.

fn main() {
    ljbpf_build::compile_probes(&[
        "probes/syscount.lua",
        "probes/sockproto.lua",
        "probes/dnshist.lua",
        "probes/httpmethods.lua",
        "probes/readlat.lua",
        "probes/offcputime.lua",
        "probes/bashreadline.lua",
        "probes/profile.lua",
        "probes/xdpfw.lua",
    ]);
}
