//! Milliseconds per probe compile, warm: each file given (default: `examples/probes/*.lua`) is
//! compiled once, then 10 times in this process, and the median of the 10 is printed.
//!
//! `cargo run --release -p ljbpf-build --example compile_time [FILE.lua ...]`

use std::path::PathBuf;
use std::time::Instant;

fn main() {
    let mut files: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if files.is_empty() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/probes");
        files = std::fs::read_dir(&dir)
            .expect("examples/probes")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "lua"))
            .collect();
        files.sort();
    }
    let opts = ljbpf_build::Options::default();
    let mut medians = Vec::new();
    for file in &files {
        if let Err(e) = ljbpf_build::compile_file(file, &opts) {
            eprintln!("{}: {e}", file.display());
            std::process::exit(1);
        }
        let mut ms: Vec<f64> = (0..10)
            .map(|_| {
                let start = Instant::now();
                let _ = ljbpf_build::compile_file(file, &opts);
                start.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        ms.sort_by(f64::total_cmp);
        let median = (ms[4] + ms[5]) / 2.0;
        medians.push(median);
        println!("{median:8.2} ms  {}", file.display());
    }
    medians.sort_by(f64::total_cmp);
    if let Some(m) = medians.get(medians.len() / 2) {
        println!("{m:8.2} ms  median over {} files", medians.len());
    }
}
