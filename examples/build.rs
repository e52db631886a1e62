fn main() {
    ljbpf_build::compile_probes(&["probes/syscount.lua"]);
}
