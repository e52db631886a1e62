//! Event maps, per-CPU values and stack traces against the live kernel: perf event arrays read
//! on every CPU, ring buffers, per-CPU sums, and symbolised kernel and user stacks.
//!
//! Each test hooks a different syscall tracepoint and filters on this process's tgid, so tests
//! running in parallel threads of this binary do not see each other's events.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ljbpf_runtime::aya::maps::{Array, PerCpuArray};
use ljbpf_runtime::aya::Pod;
use ljbpf_runtime::{
    sum_per_cpu, Error, PerfReader, Probe, ProbeSpec, RingBufReader, Symbolizer, BPF_F_USER_STACK,
};

mod common;
use common::*;

/// `BPF_F_CURRENT_CPU`: the `flags` (u64) of `bpf_perf_event_output` selecting this CPU's
/// buffer.
const BPF_F_CURRENT_CPU: u64 = 0xffff_ffff;

/// The event both output programs build on the stack at `r10 - 16`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
struct Event {
    pid_tgid: u64,
    /// CPU (perf test) or `bpf_ktime_get_ns()` (ring buffer test).
    extra: u64,
}
// SAFETY: two integers, no padding.
unsafe impl Pod for Event {}

impl Event {
    fn tid(&self) -> u32 {
        self.pid_tgid as u32
    }
}

fn online_cpus() -> Vec<u32> {
    ljbpf_runtime::aya::util::online_cpus().expect("online cpus")
}

/// Runs `f(cpu)` on one thread pinned to each online CPU; returns each thread's tid by CPU.
fn on_every_cpu(f: impl Fn(u32) + Sync) -> HashMap<u32, u32> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = online_cpus()
            .into_iter()
            .map(|cpu| {
                let f = &f;
                scope.spawn(move || {
                    pin_to_cpu(cpu);
                    let tid = gettid();
                    f(cpu);
                    (tid, cpu)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("worker"))
            .collect()
    })
}

/// `perf_spec_on("sys_enter_getpid")`.
fn perf_spec() -> &'static ProbeSpec {
    perf_spec_on("sys_enter_getpid")
}

/// Sends `{pid_tgid, cpu}` to perf event array `events` on each syscall `event` of this process.
fn perf_spec_on(event: &'static str) -> &'static ProbeSpec {
    let mut asm = Asm::default();
    asm.mov(6, 1)
        .only_tgid(std::process::id(), "mine")
        .call(Helper::GetCurrentPidTgid)
        .stx_dw(10, -16, 0)
        .call(Helper::GetSmpProcessorId)
        .stx_dw(10, -8, 0)
        .mov(1, 6)
        .ld_map(2, 0)
        .ld_imm64(3, BPF_F_CURRENT_CPU)
        .mov(4, 10)
        .add_imm(4, -16)
        .mov_imm(5, 16)
        .call(Helper::PerfEventOutput)
        .mov_imm(0, 0)
        .exit();
    spec(
        "perf",
        // max_entries 0: aya sizes a perf event array to the number of CPUs.
        vec![map("events", MapKind::PerfEventArray, 4, 4, 0)],
        vec![tracepoint("on_syscall", "syscalls", event, asm)],
    )
}

/// `bpf_perf_event_output(BPF_F_CURRENT_CPU)` from threads pinned to every CPU: every event
/// arrives, typed, from the buffer of the CPU it was produced on.
#[test]
fn perf_reader_reads_every_cpu() {
    if !kernel("perf_reader_reads_every_cpu") {
        return;
    }
    const N: usize = 20_000;
    let mut probe = Probe::load(perf_spec()).expect("load");
    let mut reader = PerfReader::<Event>::new(&mut probe, "events").expect("reader");
    assert_eq!(reader.cpus(), online_cpus());
    assert!(matches!(probe.map("events"), Err(Error::UnknownMap { .. })));
    probe.attach_all().expect("attach");

    let started = Instant::now();
    let (tids, events, lost) = std::thread::scope(|scope| {
        let workers = scope.spawn(|| on_every_cpu(|_| getpid_n(N)));
        let mut events = Vec::new();
        let mut lost = 0;
        let deadline = Instant::now() + Duration::from_secs(20);
        // Read while the workers run, until they are done and the buffers are empty.
        loop {
            let batch = reader.poll(Some(Duration::from_millis(50))).expect("poll");
            lost += batch.lost;
            let empty = batch.events.is_empty();
            events.extend(batch.events);
            if (workers.is_finished() && empty) || Instant::now() > deadline {
                break;
            }
        }
        (workers.join().expect("workers"), events, lost)
    });
    let elapsed = started.elapsed();
    assert_eq!(lost, reader.lost());

    let mut per_tid: HashMap<u32, usize> = HashMap::new();
    for event in &events {
        assert_eq!(event.pid_tgid >> 32, u64::from(std::process::id()));
        if let Some(&cpu) = tids.get(&event.tid()) {
            assert_eq!(
                event.extra,
                u64::from(cpu),
                "event of a thread pinned to {cpu}"
            );
            *per_tid.entry(event.tid()).or_default() += 1;
        }
    }
    let total = tids.len() * N;
    eprintln!(
        "perf: {} events from {} CPUs in {elapsed:?} ({:.0} events/s), lost {lost}",
        per_tid.values().sum::<usize>(),
        tids.len(),
        total as f64 / elapsed.as_secs_f64(),
    );
    assert_eq!(lost, 0, "the reader kept up, nothing should be lost");
    for (tid, cpu) in &tids {
        assert_eq!(
            per_tid.get(tid),
            Some(&N),
            "events of the thread on CPU {cpu}"
        );
    }

    // Nothing more arrives once the syscalls stop: poll times out empty.
    let quiet = reader.poll(Some(Duration::from_millis(20))).expect("poll");
    assert!(quiet.events.iter().all(|e| !tids.contains_key(&e.tid())));
}

/// A perf buffer too small for a burst the reader does not drain reports lost events.
#[test]
fn perf_reader_counts_lost_events() {
    if !kernel("perf_reader_counts_lost_events") {
        return;
    }
    // Its own syscall: the other perf tests of this process make getpid() calls.
    let spec = perf_spec_on("sys_enter_getgid");
    let mut probe = Probe::load(spec).expect("load");
    // One page holds about 4096 / 32 = 128 samples per CPU.
    let map = probe.take_map("events").expect("map");
    let mut reader = PerfReader::<Event>::from_map("events", map, 1).expect("reader");
    probe.attach_all().expect("attach");
    pin_to_cpu(0);
    let getgid_n = |n| {
        for _ in 0..n {
            // SAFETY: getgid has no preconditions.
            unsafe { libc::getgid() };
        }
    };
    getgid_n(1000);
    let mut events = Vec::new();
    let first = reader.read_events(&mut events).expect("read");
    assert_eq!(first.read, events.len());
    // The kernel writes its PERF_RECORD_LOST record once there is room again: make room
    // (done above), produce one more sample, read again.
    getgid_n(1);
    let second = reader.read_events(&mut events).expect("read");
    let (read, lost) = (first.read + second.read, first.lost + second.lost);
    eprintln!("1-page buffer: read {read}, lost {lost} of 1001");
    assert!(read > 0 && read < 1000, "{first:?} {second:?}");
    assert!(lost > 0, "{first:?} {second:?}");
    assert_eq!(read as u64 + lost, 1001, "{first:?} {second:?}");
    assert_eq!(reader.lost(), lost);
}

/// The event type must fit in the sample.
#[test]
fn perf_reader_rejects_short_samples() {
    if !kernel("perf_reader_rejects_short_samples") {
        return;
    }
    #[derive(Debug, Clone, Copy)]
    #[repr(C)]
    struct Big([u64; 8]);
    // SAFETY: plain integers.
    unsafe impl Pod for Big {}
    let mut probe = Probe::load(perf_spec()).expect("load");
    let mut reader = PerfReader::<Big>::new(&mut probe, "events").expect("reader");
    probe.attach_all().expect("attach");
    getpid_n(1);
    let err = reader
        .poll(Some(Duration::from_secs(5)))
        .expect_err("16-byte samples cannot be 64-byte events");
    assert!(
        matches!(err, Error::EventSize { expected: 64, got, .. } if (16..64).contains(&got)),
        "{err:?}"
    );
    // Wrong map type.
    let err = RingBufReader::<Event>::from_map("events", probe_map_again()).expect_err("type");
    assert!(matches!(err, Error::MapType { .. }), "{err:?}");
}

fn probe_map_again() -> ljbpf_runtime::aya::maps::Map {
    let mut probe = Probe::load(perf_spec()).expect("load");
    probe.take_map("events").expect("map")
}

/// `bpf_ringbuf_output` of a 16-byte event per getppid(); read in commit order.
#[test]
fn ring_buffer_reader_reads_typed_events() {
    if !kernel("ring_buffer_reader_reads_typed_events") {
        return;
    }
    const N: usize = 5_000;
    let mut asm = Asm::default();
    asm.only_tgid(std::process::id(), "mine")
        .call(Helper::GetCurrentPidTgid)
        .stx_dw(10, -16, 0)
        .call(Helper::KtimeGetNs)
        .stx_dw(10, -8, 0)
        .ld_map(1, 0)
        .mov(2, 10)
        .add_imm(2, -16)
        .mov_imm(3, 16)
        .mov_imm(4, 0)
        .call(Helper::RingbufOutput)
        .mov_imm(0, 0)
        .exit();
    let spec = spec(
        "ring",
        vec![map("ring", MapKind::Ringbuf, 0, 0, 256 * 1024)],
        vec![tracepoint(
            "on_getppid",
            "syscalls",
            "sys_enter_getppid",
            asm,
        )],
    );
    let mut probe = Probe::load(spec).expect("load");
    let mut reader = RingBufReader::<Event>::new(&mut probe, "ring").expect("reader");
    probe.attach_all().expect("attach");

    assert!(reader
        .poll(Some(Duration::from_millis(10)))
        .expect("poll")
        .events
        .is_empty());
    let started = Instant::now();
    let (tids, events) = std::thread::scope(|scope| {
        let workers = scope.spawn(|| {
            on_every_cpu(|_| {
                for _ in 0..N {
                    // SAFETY: getppid has no preconditions.
                    unsafe { libc::getppid() };
                }
            })
        });
        let mut events = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let batch = reader.poll(Some(Duration::from_millis(50))).expect("poll");
            assert_eq!(batch.lost, 0);
            let empty = batch.events.is_empty();
            events.extend(batch.events);
            if (workers.is_finished() && empty) || Instant::now() > deadline {
                break;
            }
        }
        (workers.join().expect("workers"), events)
    });
    let elapsed = started.elapsed();
    let mut per_tid: HashMap<u32, (usize, u64)> = HashMap::new();
    for event in &events {
        if tids.contains_key(&event.tid()) {
            let (n, last) = per_tid.entry(event.tid()).or_default();
            assert!(event.extra >= *last, "one thread's events come in order");
            *n += 1;
            *last = event.extra;
        }
    }
    eprintln!(
        "ringbuf: {} events in {elapsed:?} ({:.0} events/s)",
        events.len(),
        events.len() as f64 / elapsed.as_secs_f64()
    );
    for tid in tids.keys() {
        assert_eq!(per_tid.get(tid).map(|p| p.0), Some(N));
    }
    assert_eq!(reader.next().expect("next"), None);
    // SAFETY: getppid has no preconditions.
    unsafe { libc::getppid() };
    let one = reader.next().expect("next").expect("one event");
    assert_eq!(one.tid(), gettid());
}

/// A percpu_array counter incremented from threads pinned to each CPU: per-CPU values are
/// exact, and `sum_per_cpu` adds them up.
#[test]
fn per_cpu_values_sum_over_cpus() {
    if !kernel("per_cpu_values_sum_over_cpus") {
        return;
    }
    let mut asm = Asm::default();
    asm.only_tgid(std::process::id(), "mine")
        .st_w(10, -4, 0)
        .ld_map(1, 0)
        .mov(2, 10)
        .add_imm(2, -4)
        .call(Helper::MapLookupElem)
        .jeq_imm(0, 0, "out")
        .mov_imm(1, 1)
        .atomic_add_dw(0, 0, 1)
        .label("out")
        .mov_imm(0, 0)
        .exit();
    let spec = spec(
        "percpu",
        vec![map("counts", MapKind::PercpuArray, 4, 8, 1)],
        vec![tracepoint("on_getuid", "syscalls", "sys_enter_getuid", asm)],
    );
    let mut probe = Probe::load(spec).expect("load");
    probe.attach_all().expect("attach");
    // CPU c makes 100 * (c + 1) calls.
    on_every_cpu(|cpu| {
        for _ in 0..100 * (cpu + 1) {
            // SAFETY: getuid has no preconditions.
            unsafe { libc::getuid() };
        }
    });
    let counts = PerCpuArray::<_, u64>::try_from(probe.map("counts").expect("map")).expect("type");
    let values = counts.get(&0, 0).expect("get");
    let cpus = online_cpus();
    let mut want = 0;
    for &cpu in &cpus {
        let n = 100 * (u64::from(cpu) + 1);
        assert_eq!(values[cpu as usize], n, "CPU {cpu}");
        want += u128::from(n);
    }
    assert_eq!(sum_per_cpu(&values), want);
    eprintln!("per-CPU values {:?}, sum {want}", &values[..]);
}

/// getpgid(0) issued by a `syscall` instruction in this function, so the innermost user frame
/// is here (independent of libc and of frame pointers).
#[inline(never)]
#[no_mangle]
extern "C" fn ljbpf_test_raw_getpgid() -> i64 {
    let ret: i64;
    // SAFETY: getpgid(0) only reads process state; rcx and r11 are clobbered by `syscall`.
    unsafe {
        std::arch::asm!(
            "syscall",
            inlateout("rax") libc::SYS_getpgid => ret,
            in("rdi") 0,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

/// `bpf_get_stackid` for the kernel and the user stack of getpgid(); both stacks read back and
/// symbolise.
#[test]
fn stack_traces_symbolise() {
    if !kernel("stack_traces_symbolise") {
        return;
    }
    let mut asm = Asm::default();
    asm.mov(6, 1)
        .only_tgid(std::process::id(), "mine")
        .mov(1, 6)
        .ld_map(2, 0)
        .mov_imm(3, 0)
        .call(Helper::GetStackid)
        .stx_dw(10, -16, 0)
        .mov(1, 6)
        .ld_map(2, 0)
        .mov_imm(3, BPF_F_USER_STACK as i32)
        .call(Helper::GetStackid)
        .stx_dw(10, -8, 0)
        .st_w(10, -20, 0)
        .ld_map(1, 1)
        .mov(2, 10)
        .add_imm(2, -20)
        .mov(3, 10)
        .add_imm(3, -16)
        .mov_imm(4, 0)
        .call(Helper::MapUpdateElem)
        .mov_imm(0, 0)
        .exit();
    let spec = spec(
        "stacks",
        vec![
            map("stacks", MapKind::StackTrace, 4, 127 * 8, 1024),
            map("ids", MapKind::Array, 4, 16, 1),
        ],
        vec![tracepoint(
            "on_getpgid",
            "syscalls",
            "sys_enter_getpgid",
            asm,
        )],
    );
    let mut probe = Probe::load(spec).expect("load");
    probe.attach_all().expect("attach");
    assert!(ljbpf_test_raw_getpgid() > 0);
    let ids = Array::<_, [i64; 2]>::try_from(probe.map("ids").expect("map")).expect("type");
    let [kernel_id, user_id] = ids.get(&0, 0).expect("ids");
    assert!(
        kernel_id >= 0 && user_id >= 0,
        "get_stackid: {kernel_id} {user_id}"
    );

    let mut symbolizer = Symbolizer::new();
    let kernel_stack = probe
        .stack("stacks", kernel_id as u32)
        .expect("kernel stack");
    let kernel_names: Vec<String> = kernel_stack
        .iter()
        .map(|&a| {
            symbolizer
                .symbolize_kernel(a)
                .map_or_else(|| format!("{a:#x}"), |s| s.to_string())
        })
        .collect();
    eprintln!("kernel stack: {kernel_names:#?}");
    assert!(!kernel_stack.is_empty());
    assert!(
        kernel_names.iter().any(|n| n.starts_with("do_syscall_64+")),
        "{kernel_names:?}"
    );
    assert!(
        kernel_stack
            .iter()
            .all(|&a| symbolizer.symbolize_kernel(a).is_some()),
        "every kernel frame symbolises: {kernel_names:?}"
    );

    let pid = std::process::id();
    let user_stack = probe.stack("stacks", user_id as u32).expect("user stack");
    let user_names: Vec<String> = user_stack
        .iter()
        .map(|&a| {
            symbolizer.symbolize_user(pid, a).map_or_else(
                || format!("{a:#x}"),
                |s| format!("{s} ({})", s.module.as_deref().unwrap_or("")),
            )
        })
        .collect();
    eprintln!("user stack: {user_names:#?}");
    let top = symbolizer
        .symbolize_user(pid, user_stack[0])
        .expect("innermost user frame");
    assert_eq!(top.name, "ljbpf_test_raw_getpgid");
    let exe = std::env::current_exe().expect("exe");
    assert_eq!(top.module.as_deref(), exe.to_str());

    assert!(matches!(
        probe.stack("stacks", 1023),
        Err(Error::StackTrace { stack_id: 1023, .. })
    ));
    assert!(matches!(probe.stack("ids", 0), Err(Error::MapType { .. })));
    assert_eq!(symbolizer.symbolize_kernel(0x10), None);
}
