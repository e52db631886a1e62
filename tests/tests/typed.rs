//! Generated bindings in use: typed maps with the `#[repr(C)]` structs generated from
//! `ffi.cdef`, on real events.

use std::io::Write;
use std::os::fd::AsRawFd;

use ljbpf_tests::corpus::{structs, write};
use ljbpf_tests::kernel_ready;

#[test]
fn struct_keys_and_values_count_writes_of_this_process() {
    if !kernel_ready("struct_keys_and_values_count_writes_of_this_process") {
        return;
    }
    let mut probe = structs::Probe::load().expect("load");
    probe.attach_all().expect("attach");
    let mut null = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .unwrap();
    let fd = null.as_raw_fd() as u32;
    const N: u64 = 25;
    for _ in 0..N {
        null.write_all(b"x").unwrap();
    }
    let me = std::process::id();
    let stats = probe.stats().expect("stats map");
    let mine: Vec<(structs::key_t, structs::stat_t)> = stats
        .iter()
        .filter_map(Result::ok)
        .filter(|(k, _)| k.pid == me)
        .collect();
    let calls: u64 = mine.iter().map(|(_, v)| v.calls).sum();
    assert!(calls >= N, "{calls} calls counted for {N} writes: {mine:?}");
    assert!(
        mine.iter().any(|(_, v)| v.max_fd >= fd),
        "max_fd below {fd}: {mine:?}"
    );
    // `v.delta = v.delta - 1` ran once per write after the first on each CPU.
    let deltas: i64 = mine.iter().map(|(_, v)| i64::from(v.delta)).sum();
    assert_eq!(deltas, -((calls - mine.len() as u64) as i64), "{mine:?}");
}

#[test]
fn write_counts_bytes_per_fd() {
    if !kernel_ready("write_counts_bytes_per_fd") {
        return;
    }
    let mut probe = write::Probe::load().expect("load");
    probe.attach_all().expect("attach");
    let mut null = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .unwrap();
    let fd = null.as_raw_fd() as u32;
    let before = probe.bytes().unwrap().get(&fd, 0).unwrap_or(0);
    for n in 1..=10usize {
        null.write_all(&vec![0u8; n * 100]).unwrap();
    }
    let after = probe.bytes().unwrap().get(&fd, 0).unwrap_or(0);
    // Other processes may write to the same fd number; at least ours must be there.
    assert!(
        after - before >= 5500,
        "counted {} bytes, wrote 5500",
        after - before
    );
}
