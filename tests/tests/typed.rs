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

/// `perf_submit` and `ringbuf_output` events decoded through the generated readers, and the
/// stack ids of the same calls symbolised from the kernel's symbols.
#[test]
fn events_arrive_typed_through_perf_and_ring_buffers() {
    use ljbpf_tests::corpus::events;
    use std::time::Duration;
    if !kernel_ready("events_arrive_typed_through_perf_and_ring_buffers") {
        return;
    }
    let mut probe = events::Probe::load().expect("load");
    let mut perf = probe.events().expect("perf reader");
    let mut ring = probe.ring().expect("ring reader");
    probe.attach_all().expect("attach");
    // SAFETY: getpid has no preconditions; the raw syscall avoids any libc caching.
    let me = unsafe { libc::syscall(libc::SYS_getpid) } as u32;
    const N: usize = 50;
    for _ in 0..N {
        // SAFETY: getppid has no preconditions.
        unsafe { libc::syscall(libc::SYS_getppid) };
    }
    let mut from_perf: Vec<events::call_t> = Vec::new();
    let mut from_ring: Vec<events::call_t> = Vec::new();
    for _ in 0..20 {
        from_perf.extend(perf.poll(Some(Duration::from_millis(50))).unwrap().events);
        from_ring.extend(ring.poll(Some(Duration::from_millis(50))).unwrap().events);
        let mine = |v: &Vec<events::call_t>| v.iter().filter(|e| e.pid == me).count();
        if mine(&from_perf) >= N && mine(&from_ring) >= N {
            break;
        }
    }
    for (name, evs) in [("perf", &from_perf), ("ring", &from_ring)] {
        let mine: Vec<&events::call_t> = evs.iter().filter(|e| e.pid == me).collect();
        assert_eq!(mine.len(), N, "{name}: {} of my {N} events", mine.len());
        // `char comm[16]` through the generated string helper.
        let expected = std::fs::read_to_string("/proc/thread-self/comm").unwrap();
        assert_eq!(mine[0].comm_str(), expected.trim(), "{name}: comm");
        assert!(mine
            .windows(2)
            .all(|w| w[0].ts <= w[1].ts || w[0].cpu != w[1].cpu));
    }
    // The stacks of those calls: kernel frames that symbolise.
    let counts = probe.stack_counts().expect("stack counts");
    let ids: Vec<i32> = counts.keys().filter_map(Result::ok).collect();
    assert!(!ids.is_empty(), "no stack ids recorded");
    let mut symbols = ljbpf_runtime::Symbolizer::new();
    let stack = probe.stacks(ids[0] as u32).expect("stack");
    let names: Vec<String> = stack
        .iter()
        .filter_map(|a| symbols.symbolize_kernel(*a))
        .map(|s| s.name)
        .collect();
    assert!(
        names.iter().any(|n| n.contains("do_syscall_64")),
        "kernel stack {names:?}"
    );
}

/// Two typed maps of one probe held at once (each a handle of its own, borrowing nothing), and
/// a map size chosen between `open()` and `load()` that the kernel's map has.
#[test]
fn two_typed_maps_at_once_and_a_size_set_before_load() {
    use ljbpf_tests::corpus::syscount;
    if !kernel_ready("two_typed_maps_at_once_and_a_size_set_before_load") {
        return;
    }
    let mut probe = syscount::Probe::open()
        .set_counts_max_entries(4096)
        .load()
        .expect("load");
    let mut config = probe.config().expect("config map");
    let counts = probe.counts().expect("counts map");
    // Both handles are alive across a `&mut` use of the probe.
    // SAFETY: getpid has no preconditions; the raw syscall avoids any libc caching.
    let me = unsafe { libc::syscall(libc::SYS_getpid) } as u64;
    config.set(0, me, 0).expect("config[0] = my tgid");
    probe.attach_on_enter().expect("attach");
    const N: u64 = 77;
    for _ in 0..N {
        // SAFETY: getppid has no preconditions.
        unsafe { libc::syscall(libc::SYS_getppid) };
    }
    let nr = libc::SYS_getppid as u32;
    assert_eq!(counts.get(&nr, 0).expect("getppid counted"), N);
    assert_eq!(config.get(&0, 0).expect("config[0]"), me);
    let info = ljbpf_runtime::aya::maps::IterableMap::map(&counts)
        .info()
        .expect("map info");
    assert_eq!(
        info.max_entries(),
        4096,
        "the kernel's map has the new size"
    );
    // A probe loaded in one call keeps the size the probe file declares.
    let declared = syscount::Probe::load().expect("load");
    let declared_counts = declared.counts().expect("counts");
    let info = ljbpf_runtime::aya::maps::IterableMap::map(&declared_counts)
        .info()
        .expect("map info");
    assert_eq!(info.max_entries(), 1024);
}

/// The async readers (feature `tokio`): perf and ring buffer events awaited on a tokio runtime.
#[test]
fn events_arrive_through_async_readers() {
    use ljbpf_runtime::AsyncReader;
    use ljbpf_tests::corpus::events;
    use std::time::Duration;
    if !kernel_ready("events_arrive_through_async_readers") {
        return;
    }
    // Outside a runtime: an error, not a panic.
    let mut other = events::Probe::load().expect("load");
    let err = AsyncReader::new(other.events().expect("perf reader")).expect_err("no runtime");
    assert!(err.to_string().contains("cannot poll"), "{err}");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .expect("runtime");
    let mut probe = events::Probe::load().expect("load");
    let perf = probe.events().expect("perf reader");
    let ring = probe.ring().expect("ring reader");
    runtime.block_on(async {
        let mut perf = AsyncReader::new(perf).expect("async perf reader");
        let mut ring = AsyncReader::new(ring).expect("async ring reader");
        probe.attach_all().expect("attach");
        // SAFETY: getpid has no preconditions; the raw syscall avoids any libc caching.
        let me = unsafe { libc::syscall(libc::SYS_getpid) } as u32;
        const N: usize = 30;
        for _ in 0..N {
            // SAFETY: getppid has no preconditions.
            unsafe { libc::syscall(libc::SYS_getppid) };
        }
        let mut mine_perf = 0;
        let mut mine_ring = 0;
        while mine_perf < N || mine_ring < N {
            tokio::select! {
                got = perf.read() => {
                    let got = got.expect("perf events");
                    assert!(!got.events.is_empty() || got.lost > 0, "an empty wake-up");
                    mine_perf += got.events.iter().filter(|e| e.pid == me).count();
                }
                got = ring.read() => {
                    mine_ring += got.expect("ring events").events.iter().filter(|e| e.pid == me).count();
                }
                () = tokio::time::sleep(Duration::from_secs(5)) => {
                    panic!("timed out: {mine_perf} perf and {mine_ring} ring events of {N}");
                }
            }
        }
        assert_eq!((mine_perf, mine_ring), (N, N));
    });
}
