//! `print` (bpf_trace_printk) writes its formatted line to the trace buffer, with compile-time
//! string concatenation in the format.

use ljbpf_tests::{compile_ok, kernel_ready, load};

#[test]
fn print_reaches_the_trace_buffer() {
    if !kernel_ready("print_reaches_the_trace_buffer") {
        return;
    }
    // SAFETY: getpid has no preconditions.
    let me = unsafe { libc::syscall(libc::SYS_getpid) } as u64;
    let src = format!(
        "local TAG = 'ljbpf-print-'\nreturn {{ f = bpf.tracepoint('syscalls/sys_enter_getppid', function (ctx)\n  if pid_tgid() >> 32 == {me} then\n    print(TAG .. 'test %d %d' .. '\\n', 6 * 7, pid_tgid() >> 32)\n  end\nend) }}\n"
    );
    let probe = compile_ok("print.lua", &src);
    let mut loaded = load(&probe);
    loaded.attach_all().expect("attach");
    // SAFETY: getppid has no preconditions.
    unsafe { libc::syscall(libc::SYS_getppid) };
    let trace = std::fs::read_to_string("/sys/kernel/tracing/trace").expect("trace buffer");
    let want = format!("ljbpf-print-test 42 {me}");
    assert!(trace.contains(&want), "no `{want}` in the trace buffer");
}
