//! The tracing program kinds in the live kernel: raw tracepoints, BTF tracepoints, fentry and
//! fexit, perf events. Each test makes a known number of events (syscalls, execs, CPU time of a
//! busy child) and checks what the probe counted; raw tracepoints also run under
//! `BPF_PROG_TEST_RUN`. fentry/fexit need a kernel that attaches BPF trampolines: where it
//! refuses them (this host's virtualised 6.18 does), the test checks that the error says so,
//! and the kernel matrix (Debian 6.1 and 6.12 guests) proves the counts.

use std::process::Command;
use std::time::{Duration, Instant};

use ljbpf_runtime::aya::maps::HashMap;
use ljbpf_runtime::{Error, PerfAttach, PerfEventSpec, Sample};
use ljbpf_tests::{array_u64, compile_ok, kernel_ready, load};

/// How many events each test makes.
const N: u64 = 25;

/// The syscall number of getpid and close on x86-64 (arch/x86/entry/syscalls/syscall_64.tbl).
const SYS_GETPID: i64 = 39;
const SYS_CLOSE: i64 = 3;

fn getpid_n_times(n: u64) {
    for _ in 0..n {
        // SAFETY: getpid has no preconditions; the raw syscall avoids any libc caching.
        unsafe { libc::syscall(libc::SYS_getpid) };
    }
}

fn counter(p: &mut ljbpf_runtime::Probe, index: u32) -> u64 {
    array_u64(p, "counts").get(&index, 0).unwrap()
}

#[test]
fn raw_tracepoint_counts_this_process_getpid_calls_by_argument_position() {
    if !kernel_ready("raw_tracepoint_counts_this_process_getpid_calls_by_argument_position") {
        return;
    }
    let source = format!(
        r#"
local counts = bpf.map('array', 4, 'uint32_t', 'uint64_t')
return {{
  counts = counts,
  -- sys_enter(struct pt_regs *regs, long id)
  on_enter = bpf.raw_tracepoint('sys_enter', function (ctx)
    if bit.rshift(pid_tgid(), 32) == {tgid} and ctx.arg1 == {SYS_GETPID} then
      xadd(counts[0], 1)
    end
  end),
}}
"#,
        tgid = std::process::id()
    );
    let probe = compile_ok("raw_getpid.lua", &source);
    let mut p = load(&probe);
    p.attach("on_enter").expect("attach");
    getpid_n_times(N);
    p.detach("on_enter").unwrap();
    getpid_n_times(3);
    assert_eq!(counter(&mut p, 0), N);
}

#[test]
fn raw_tracepoint_test_run_sees_the_given_arguments() {
    if !kernel_ready("raw_tracepoint_test_run_sees_the_given_arguments") {
        return;
    }
    let probe = compile_ok(
        "raw_run.lua",
        r#"
return {
  sum = bpf.raw_tracepoint('sys_enter', function (ctx)
    return ctx.arg0 * 1000 + ctx.arg1 + ctx.arg11
  end),
}
"#,
    );
    let p = load(&probe);
    let mut args = [0u64; 12];
    args[0] = 7;
    args[1] = 42;
    args[11] = 100_000;
    assert_eq!(p.test_run_raw("sum", &args).unwrap(), 107_042);
    assert_eq!(p.test_run_raw("sum", &[3]).unwrap(), 3000);
}

#[test]
fn tp_btf_reads_arguments_by_name_and_fields_behind_pointers() {
    if !kernel_ready("tp_btf_reads_arguments_by_name_and_fields_behind_pointers") {
        return;
    }
    // sys_enter's BTF prototype is (struct pt_regs *regs, long id): `ctx.id` is the syscall,
    // `ctx.regs.di` its first argument, read through the pointer.
    let source = format!(
        r#"
local counts = bpf.map('array', 4, 'uint32_t', 'uint64_t')
return {{
  counts = counts,
  on_enter = bpf.tp_btf('sys_enter', function (ctx)
    if bit.rshift(pid_tgid(), 32) ~= {tgid} then return 0 end
    if ctx.id == {SYS_CLOSE} and ctx.regs.di == 987654 then xadd(counts[0], 1) end
    if ctx.id == {SYS_GETPID} then xadd(counts[1], 1) end
  end),
}}
"#,
        tgid = std::process::id()
    );
    let probe = compile_ok("tp_btf_sys_enter.lua", &source);
    let mut p = load(&probe);
    p.attach("on_enter").expect("attach");
    for _ in 0..N {
        // SAFETY: closing a descriptor that does not exist only fails with EBADF.
        unsafe { libc::syscall(libc::SYS_close, 987_654) };
        // SAFETY: as above, another descriptor the probe must not count.
        unsafe { libc::syscall(libc::SYS_close, 987_655) };
    }
    getpid_n_times(2 * N);
    p.detach("on_enter").unwrap();
    assert_eq!(counter(&mut p, 0), N, "close(987654) calls");
    assert_eq!(counter(&mut p, 1), 2 * N, "getpid calls");
}

#[test]
fn tp_btf_sched_process_exec_sees_every_child() {
    if !kernel_ready("tp_btf_sched_process_exec_sees_every_child") {
        return;
    }
    // sched_process_exec(struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
    let probe = compile_ok(
        "tp_btf_exec.lua",
        r#"
local execs = bpf.map('hash', 4096, 'uint32_t', 'uint64_t')
return {
  execs = execs,
  on_exec = bpf.tp_btf('sched_process_exec', function (ctx)
    execs[ctx.old_pid] = ctx.p.tgid * 1000000 + ctx.bprm.argc
  end),
}
"#,
    );
    let mut p = load(&probe);
    p.attach("on_exec").expect("attach");
    let mut children = Vec::new();
    for i in 0..5 {
        let args: Vec<String> = (0..i).map(|a| a.to_string()).collect();
        let child = Command::new("/bin/true").args(&args).spawn().unwrap();
        children.push((child.id(), i + 1));
        let mut child = child;
        child.wait().unwrap();
    }
    p.detach("on_exec").unwrap();
    let execs: HashMap<_, u32, u64> = HashMap::try_from(p.map_mut("execs").unwrap()).unwrap();
    for (pid, argc) in children {
        let got = execs
            .get(&pid, 0)
            .unwrap_or_else(|e| panic!("exec of {pid}: {e}"));
        assert_eq!(got, u64::from(pid) * 1_000_000 + argc, "child {pid}");
    }
}

/// fentry on `do_sys_openat2` and fexit with its return value, counting this process's opens
/// of a file that does not exist.
const OPENAT: &str = r#"
local counts = bpf.map('array', 4, 'uint32_t', 'uint64_t')
return {
  counts = counts,
  -- long do_sys_openat2(int dfd, const char *filename, struct open_how *how)
  on_open = bpf.fentry('do_sys_openat2', function (ctx)
    if bit.rshift(pid_tgid(), 32) == TGID and ctx.dfd == -100 and bit.band(ctx.how.flags, 3) == 0 then
      xadd(counts[0], 1)
    end
  end),
  on_return = bpf.fexit('do_sys_openat2', function (ctx)
    if bit.rshift(pid_tgid(), 32) == TGID and ctx.ret == -2 then xadd(counts[1], 1) end
  end),
}
"#;

#[test]
fn fentry_and_fexit_count_opens_or_say_why_the_kernel_refuses_them() {
    if !kernel_ready("fentry_and_fexit_count_opens_or_say_why_the_kernel_refuses_them") {
        return;
    }
    let source = OPENAT.replace("TGID", &std::process::id().to_string());
    let probe = compile_ok("fentry_openat.lua", &source);
    let mut p = match ljbpf_runtime::Probe::load(ljbpf_cli::spec(&probe)) {
        Ok(p) => p,
        Err(e @ Error::NoTrampoline { .. }) => {
            let text = e.to_string();
            assert!(text.contains("BPF trampolines"), "{text}");
            assert!(text.contains("kprobe or a raw tracepoint"), "{text}");
            eprintln!("this kernel refuses fentry/fexit, as the error says: {text}");
            return;
        }
        Err(e) => panic!("fentry/fexit load failed otherwise: {e:?}"),
    };
    p.attach_all().expect("attach");
    let missing = std::ffi::CString::new("/nonexistent/ljbpf-tracekinds").unwrap();
    for _ in 0..N {
        // SAFETY: a valid C string; the open fails with ENOENT.
        unsafe { libc::open(missing.as_ptr(), libc::O_RDONLY) };
    }
    p.detach("on_open").unwrap();
    p.detach("on_return").unwrap();
    assert_eq!(counter(&mut p, 0), N, "fentry");
    assert_eq!(counter(&mut p, 1), N, "fexit with ret == -ENOENT");
}

#[test]
fn perf_event_samples_a_busy_child_on_every_cpu() {
    if !kernel_ready("perf_event_samples_a_busy_child_on_every_cpu") {
        return;
    }
    let probe = compile_ok(
        "perf_clock.lua",
        r#"
local samples = bpf.map('hash', 1024, 'uint32_t', 'uint64_t')
local period = bpf.map('array', 1, 'uint32_t', 'uint64_t')
return {
  samples = samples,
  period = period,
  on_sample = bpf.perf_event({ type = 'software', config = 'cpu_clock', frequency = 999 },
    function (ctx)
      local tgid = bit.rshift(pid_tgid(), 32)
      local n = samples[tgid]
      if n then xadd(n, 1) else samples[tgid] = 1 end
      period[0] = ctx.sample_period
    end),
}
"#,
    );
    let mut p = load(&probe);
    p.attach("on_sample").expect("attach");
    let mut busy = Command::new("sh")
        .arg("-c")
        .arg("i=0; while [ $i -lt 100000000 ]; do i=$((i+1)); done")
        .spawn()
        .unwrap();
    let pid = busy.id();
    let start = Instant::now();
    let count = |p: &mut ljbpf_runtime::Probe| {
        let m: HashMap<_, u32, u64> = HashMap::try_from(p.map_mut("samples").unwrap()).unwrap();
        m.get(&pid, 0).unwrap_or(0)
    };
    while count(&mut p) < 20 && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(100));
    }
    busy.kill().unwrap();
    busy.wait().unwrap();
    let got = count(&mut p);
    p.detach("on_sample").unwrap();
    assert!(
        got >= 20,
        "{got} samples of the busy child in {:?}",
        start.elapsed()
    );
    let period: u64 = array_u64(&mut p, "period").get(&0, 0).unwrap();
    assert!(period > 0, "sample_period {period}");
}

#[test]
fn perf_event_attach_options_choose_the_cpus_and_the_process() {
    if !kernel_ready("perf_event_attach_options_choose_the_cpus_and_the_process") {
        return;
    }
    let probe = compile_ok(
        "perf_one.lua",
        r#"
local seen = bpf.map('hash', 1024, 'uint32_t', 'uint64_t')
return {
  seen = seen,
  on_sample = bpf.perf_event({ type = 'software', config = 'task_clock', period = 1000000 },
    function (ctx)
      local tgid = bit.rshift(pid_tgid(), 32)
      local n = seen[tgid]
      if n then xadd(n, 1) else seen[tgid] = 1 end
    end),
}
"#,
    );
    let mut p = load(&probe);
    let mut busy = Command::new("sh")
        .arg("-c")
        .arg("i=0; while [ $i -lt 100000000 ]; do i=$((i+1)); done")
        .spawn()
        .unwrap();
    let pid = busy.id();
    let options = PerfAttach {
        event: Some(PerfEventSpec {
            perf_type: 1,
            config: 0, // cpu_clock
            sample: Sample::Frequency(499),
        }),
        cpus: None,
        pid: Some(pid),
        inherit: false,
    };
    p.attach_perf_event("on_sample", &options).expect("attach");
    std::thread::sleep(Duration::from_millis(1500));
    busy.kill().unwrap();
    busy.wait().unwrap();
    p.detach("on_sample").unwrap();
    let seen: HashMap<_, u32, u64> = HashMap::try_from(p.map_mut("seen").unwrap()).unwrap();
    let keys: Vec<u32> = seen.keys().map(Result::unwrap).collect();
    assert_eq!(keys, vec![pid], "only the chosen process is sampled");
    assert!(seen.get(&pid, 0).unwrap() > 10);
}
