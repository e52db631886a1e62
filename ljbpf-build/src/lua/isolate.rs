//! Defence in depth: the top level of a probe file is evaluated in a child process.
//!
//! Why this holds. The first wall is the Lua environment itself (`prelude.lua`): the probe file
//! sees a description API with no way to memory, files or commands, under an instruction-count
//! time limit and an allocator memory limit. Should a LuaJIT or compiler defect still hand a
//! probe file control, or a single C call run long (a backtracking `string.find` pattern, which
//! no instruction hook interrupts), the process it runs in can do almost nothing and is stopped:
//!
//! - It is forked before any Lua state exists, and closes every descriptor but the pipe to the
//!   compiler (stdin/stdout/stderr included: `print` output travels over the pipe).
//! - `RLIMIT_AS` bounds its memory, `RLIMIT_CPU` its processor time, `RLIMIT_FSIZE` 0 forbids
//!   writing to any file, `RLIMIT_NOFILE` forbids new descriptors, `RLIMIT_CORE` 0 forbids core
//!   files; `PR_SET_PDEATHSIG` ends it with the compiler.
//! - With `PR_SET_NO_NEW_PRIVS`, a seccomp filter allows only what evaluation needs: writes to
//!   the pipe, memory management without executable pages, clocks, signal return and exit.
//!   Any other system call (open, execve, socket, ...) kills the process.
//! - The compiler waits with a wall-clock limit and kills it past that, reads at most
//!   [`max_answer`] bytes, and decodes them with every size checked (`wire`). Every abnormal end
//!   (a signal, a limit, garbage on the pipe) becomes an error at the probe file, at the last
//!   line the child was seen running (it writes that line to a shared page as it runs).
//!
//! Fork safety. The child runs only the evaluator: the allocator (glibc resets its locks in its
//! fork handlers), LuaJIT, and `write` on the pipe; it takes no lock another thread could hold
//! (no stdio, no environment) and ends with `_exit`, running no destructor or atexit handler. A
//! build script and the CLI are single-threaded when they compile; in a multi-threaded test
//! process a lock held by another thread at the fork could at worst hang the child, which the
//! wall-clock limit turns into an error.
//!
//! Other than on Linux, the evaluator runs in the compiler's process, behind the first wall only;
//! on Linux other than x86-64 and aarch64 there is no seccomp filter.

use crate::diag::{Diagnostic, Span};

use super::evaluate::{Outcome, TOP_LEVEL_MEMORY_LIMIT, TOP_LEVEL_TIME_LIMIT};

/// Evaluates a probe file's top level (in a child process where the platform allows).
pub fn evaluate(file: &str, source: &[u8]) -> Outcome {
    #[cfg(target_os = "linux")]
    {
        linux::evaluate(file, source)
    }
    #[cfg(not(target_os = "linux"))]
    {
        super::evaluate::evaluate(file, source, |_| {})
    }
}

/// Most bytes of an answer read from the child: the description budgets, the bytecode (a few
/// times the source's size at most) and the diagnostics, with room to spare.
pub fn max_answer(source_len: usize) -> usize {
    (64usize << 20)
        .saturating_add(super::decode::DESCRIBE_BYTES.saturating_mul(2))
        .saturating_add(source_len.saturating_mul(16))
}

fn failed(file: &str, line: u32, message: String) -> Outcome {
    Outcome {
        prints: Vec::new(),
        result: Err(Diagnostic::new(Span::new(file, line), message).into()),
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::{Duration, Instant};

    use super::{failed, max_answer, Outcome, TOP_LEVEL_MEMORY_LIMIT, TOP_LEVEL_TIME_LIMIT};
    use crate::lua::{evaluate as evaluator, wire};

    /// How long the compiler waits for the child: the top level's own limit, then time for the
    /// instruction hook to say so and for the answer to arrive.
    const WALL_LIMIT: Duration = Duration::from_secs(TOP_LEVEL_TIME_LIMIT.as_secs() + 3);

    /// The child's processor time limit (soft; the kernel kills at the hard limit a second
    /// later): a backstop behind the wall clock.
    const CPU_LIMIT_SECS: u64 = TOP_LEVEL_TIME_LIMIT.as_secs() + 4;

    /// Address space the child may add to what it inherits: the Lua state's limit, plus the
    /// compiler's reading of declarations and the allocator's own reservations (so that the
    /// Lua limit, which names a line, is normally met first).
    const EXTRA_ADDRESS_SPACE: u64 = TOP_LEVEL_MEMORY_LIMIT as u64 + (2 << 30);

    /// The descriptor the child writes its answer to.
    const ANSWER_FD: i32 = 3;

    /// A page shared between parent and child: the line the top level last ran at.
    struct Shared(*mut libc::c_void);

    impl Shared {
        fn new() -> Option<Shared> {
            // SAFETY: an anonymous shared mapping, no file; checked for failure.
            let p = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    4096,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            (p != libc::MAP_FAILED).then_some(Shared(p))
        }
        fn line(&self) -> &'static AtomicU32 {
            // SAFETY: the page is page-aligned, zeroed, and outlives every use: the parent
            // unmaps it only after the child is gone, and the child never unmaps it.
            unsafe { &*(self.0 as *const AtomicU32) }
        }
    }

    impl Drop for Shared {
        fn drop(&mut self) {
            // SAFETY: mapped in `new` with this size.
            unsafe { libc::munmap(self.0, 4096) };
        }
    }

    /// The address space the process uses now (`/proc/self/statm`, in pages), read before the
    /// fork; `None` if unknown.
    fn address_space() -> Option<u64> {
        let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
        let pages: u64 = statm.split_whitespace().next()?.parse().ok()?;
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        Some(pages.saturating_mul(u64::try_from(page).ok()?))
    }

    pub fn evaluate(file: &str, source: &[u8]) -> Outcome {
        let Some(shared) = Shared::new() else {
            return failed(
                file,
                0,
                "internal error: cannot map a page for the evaluator".into(),
            );
        };
        let as_limit = address_space().map(|used| used.saturating_add(EXTRA_ADDRESS_SPACE));
        let mut fds = [0i32; 2];
        // SAFETY: fds has room for two descriptors.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return failed(
                file,
                0,
                format!(
                    "internal error: cannot make a pipe for the evaluator: {}",
                    std::io::Error::last_os_error()
                ),
            );
        }
        let line = shared.line();
        // SAFETY: the child only runs `child`, which never returns (see the module comment).
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            child(fds[1], file, source, line, as_limit);
        }
        // SAFETY: our own descriptor, closed once.
        unsafe { libc::close(fds[1]) };
        if pid < 0 {
            // SAFETY: as above.
            unsafe { libc::close(fds[0]) };
            return failed(
                file,
                0,
                format!(
                    "internal error: cannot start the evaluator process: {}",
                    std::io::Error::last_os_error()
                ),
            );
        }
        let answer = read_answer(fds[0], max_answer(source.len()));
        // SAFETY: as above.
        unsafe { libc::close(fds[0]) };
        if !matches!(answer, Answer::Complete(_)) {
            // SAFETY: our child; it may already be gone.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let status = wait(pid);
        let last = line.load(Ordering::Relaxed);
        let at = |msg: String| failed(file, last, msg);
        match (answer, status) {
            (Answer::Complete(bytes), Some(0)) => match wire::decode(&bytes) {
                Ok(o) => o,
                Err(e) => at(format!(
                    "internal error: the evaluator's answer cannot be read: {e}"
                )),
            },
            (Answer::TimedOut, _) => at(format!(
                "the top level of the probe file ran for more than {} s (last seen at this line; a backtracking string pattern or another long library call?)",
                TOP_LEVEL_TIME_LIMIT.as_secs()
            )),
            (Answer::TooLong, _) => at(format!(
                "the declarations of the probe file are larger than {} MiB",
                max_answer(source.len()) >> 20
            )),
            (_, status) => at(abnormal(status)),
        }
    }

    /// What a child's abnormal end means (a `wait` status, `None` if unknown).
    fn abnormal(status: Option<i32>) -> String {
        let Some(status) = status else {
            return "internal error: the evaluator process ended and its status is unknown".into();
        };
        if libc::WIFEXITED(status) {
            return format!(
                "internal error: the evaluator process exited with status {} without an answer",
                libc::WEXITSTATUS(status)
            );
        }
        match libc::WTERMSIG(status) {
            libc::SIGXCPU | libc::SIGKILL => format!(
                "the top level of the probe file used more than {CPU_LIMIT_SECS} s of processor time (last seen at this line)"
            ),
            // Also how an allocation failure ends: the runtime's message to the (closed)
            // stderr is a write the filter refuses.
            libc::SIGSYS => format!(
                "evaluating the probe file was stopped by the build-time sandbox's system call filter: it ran out of memory (the evaluator may use {} MiB more than the compiler), tried to reach the system, or hit a compiler defect",
                EXTRA_ADDRESS_SPACE >> 20
            ),
            libc::SIGXFSZ => "evaluating the probe file tried to write a file (an escape attempt, or a compiler defect)".into(),
            libc::SIGABRT | libc::SIGSEGV | libc::SIGBUS => format!(
                "evaluating the probe file crashed (signal {}): it ran out of memory (the evaluator may use {} MiB more than the compiler) or hit a compiler defect",
                libc::WTERMSIG(status),
                EXTRA_ADDRESS_SPACE >> 20
            ),
            sig => format!("evaluating the probe file ended with signal {sig}"),
        }
    }

    enum Answer {
        Complete(Vec<u8>),
        TimedOut,
        TooLong,
        Broken,
    }

    /// Reads the pipe to its end, within the wall-clock limit and `max` bytes.
    fn read_answer(fd: i32, max: usize) -> Answer {
        let deadline = Instant::now() + WALL_LIMIT;
        let mut out = Vec::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Answer::TimedOut;
            }
            let mut pfd = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            let ms = i32::try_from(left.as_millis()).unwrap_or(i32::MAX).max(1);
            // SAFETY: one valid pollfd.
            let r = unsafe { libc::poll(&mut pfd, 1, ms) };
            if r < 0 {
                if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Answer::Broken;
            }
            if r == 0 {
                continue;
            }
            // SAFETY: buf is writable for its length.
            let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
            if n < 0 {
                if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Answer::Broken;
            }
            if n == 0 {
                return Answer::Complete(out);
            }
            let n = n as usize;
            if out.len() + n > max {
                return Answer::TooLong;
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    /// Waits for the child; its status, `None` if it cannot be known.
    fn wait(pid: libc::pid_t) -> Option<i32> {
        let mut status = 0;
        loop {
            // SAFETY: status is writable.
            let r = unsafe { libc::waitpid(pid, &mut status, 0) };
            if r == pid {
                return Some(status);
            }
            if r < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return None;
        }
    }

    /// The child: confine itself, evaluate, write the answer, `_exit`.
    fn child(
        fd: i32,
        file: &str,
        source: &[u8],
        line: &'static AtomicU32,
        as_limit: Option<u64>,
    ) -> ! {
        // SAFETY (whole function): plain system calls on our own process; nothing here
        // returns to the caller's frames.
        unsafe {
            if fd != ANSWER_FD && libc::dup2(fd, ANSWER_FD) != ANSWER_FD {
                libc::_exit(120);
            }
            for low in 0..ANSWER_FD {
                libc::close(low);
            }
            if libc::syscall(libc::SYS_close_range, ANSWER_FD as u32 + 1, u32::MAX, 0) != 0 {
                for other in ANSWER_FD + 1..65536 {
                    libc::close(other);
                }
            }
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
            let limit = |res, soft: u64, hard: u64| {
                let l = libc::rlimit {
                    rlim_cur: soft as libc::rlim_t,
                    rlim_max: hard as libc::rlim_t,
                };
                libc::setrlimit(res, &l) == 0
            };
            let mut ok = limit(libc::RLIMIT_CPU, CPU_LIMIT_SECS, CPU_LIMIT_SECS + 1)
                && limit(libc::RLIMIT_FSIZE, 0, 0)
                && limit(libc::RLIMIT_CORE, 0, 0)
                && limit(
                    libc::RLIMIT_NOFILE,
                    ANSWER_FD as u64 + 1,
                    ANSWER_FD as u64 + 1,
                );
            if let Some(bytes) = as_limit {
                ok &= limit(libc::RLIMIT_AS, bytes, bytes);
            }
            ok &= libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0;
            if !ok || !seccomp::install() {
                libc::_exit(121);
            }
        }
        let outcome = std::panic::catch_unwind(|| {
            evaluator::evaluate(file, source, move |l| line.store(l, Ordering::Relaxed))
        })
        .unwrap_or_else(|_| {
            failed(
                file,
                line.load(Ordering::Relaxed),
                "internal error: the evaluator panicked".into(),
            )
        });
        let bytes = wire::encode(&outcome);
        let mut at = 0;
        while at < bytes.len() {
            // SAFETY: the rest of `bytes` is readable.
            let n =
                unsafe { libc::write(ANSWER_FD, bytes[at..].as_ptr().cast(), bytes.len() - at) };
            if n <= 0 {
                // SAFETY: as above.
                unsafe { libc::_exit(122) };
            }
            at += n as usize;
        }
        // SAFETY: ends the process without destructors: nothing of the probe's runs after.
        unsafe { libc::_exit(0) }
    }

    /// The seccomp filter: a classic BPF program over `struct seccomp_data`.
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    mod seccomp {
        use libc::{sock_filter, sock_fprog};

        #[cfg(target_arch = "x86_64")]
        const AUDIT_ARCH: u32 = 0xc000_003e; // AUDIT_ARCH_X86_64, linux/audit.h
        #[cfg(target_arch = "aarch64")]
        const AUDIT_ARCH: u32 = 0xc000_00b7; // AUDIT_ARCH_AARCH64

        // Offsets in struct seccomp_data (linux/seccomp.h): nr, arch, ip, args[6].
        const NR: u32 = 0;
        const ARCH: u32 = 4;
        const ARG0: u32 = 16;
        const ARG2: u32 = 32; // low half on little-endian

        // Classic BPF opcodes (linux/filter.h).
        const LD_W_ABS: u16 = 0x20;
        const JEQ_K: u16 = 0x15;
        const JSET_K: u16 = 0x45;
        const RET_K: u16 = 0x06;

        /// System calls allowed as they are: memory, clocks, signals, exit; what the allocator,
        /// LuaJIT and Rust's runtime use.
        const PLAIN: &[libc::c_long] = &[
            libc::SYS_munmap,
            libc::SYS_mremap,
            libc::SYS_brk,
            libc::SYS_madvise,
            libc::SYS_clock_gettime,
            libc::SYS_clock_getres,
            libc::SYS_gettimeofday,
            libc::SYS_rt_sigreturn,
            libc::SYS_rt_sigprocmask,
            libc::SYS_sigaltstack,
            libc::SYS_futex,
            libc::SYS_getrandom,
            libc::SYS_sched_yield,
            libc::SYS_getpid,
            libc::SYS_gettid,
            libc::SYS_exit,
            libc::SYS_exit_group,
        ];

        #[derive(Clone, Copy)]
        enum To {
            Next,
            Allow,
            Kill,
            Write,
            Prot,
            /// The instruction after the next.
            SkipOne,
        }

        /// Opening a file fails (EACCES) instead of ending the process: glibc's allocator looks
        /// at /proc/sys/vm/overcommit_memory when it shrinks a thread's heap, which a child
        /// forked from a thread of a test process does.
        const ERRNO_EACCES: u32 = libc::SECCOMP_RET_ERRNO | libc::EACCES as u32;

        /// Installs the filter; false if the kernel refused it.
        pub fn install() -> bool {
            // Instructions with symbolic jump targets, resolved below (classic BPF jumps only
            // forward, so the targets come last).
            let mut prog: Vec<(u16, u32, To, To)> = vec![
                (LD_W_ABS, ARCH, To::Next, To::Next),
                (JEQ_K, AUDIT_ARCH, To::Next, To::Kill),
                (LD_W_ABS, NR, To::Next, To::Next),
                (JEQ_K, libc::SYS_write as u32, To::Write, To::Next),
                (JEQ_K, libc::SYS_mmap as u32, To::Prot, To::Next),
                (JEQ_K, libc::SYS_mprotect as u32, To::Prot, To::Next),
                (JEQ_K, libc::SYS_openat as u32, To::Next, To::SkipOne),
                (RET_K, ERRNO_EACCES, To::Next, To::Next),
            ];
            for &nr in PLAIN {
                prog.push((JEQ_K, nr as u32, To::Allow, To::Next));
            }
            let kill = prog.len();
            prog.push((RET_K, libc::SECCOMP_RET_KILL_PROCESS, To::Next, To::Next));
            let allow = prog.len();
            prog.push((RET_K, libc::SECCOMP_RET_ALLOW, To::Next, To::Next));
            // write: only to the answer pipe.
            let write = prog.len();
            prog.push((LD_W_ABS, ARG0, To::Next, To::Next));
            prog.push((JEQ_K, super::ANSWER_FD as u32, To::Allow, To::Kill));
            // mmap/mprotect: never executable pages.
            let prot = prog.len();
            prog.push((LD_W_ABS, ARG2, To::Next, To::Next));
            prog.push((JSET_K, libc::PROT_EXEC as u32, To::Kill, To::Allow));
            // The second copies of Allow/Kill for the checks above, which come after them.
            let kill2 = prog.len();
            prog.push((RET_K, libc::SECCOMP_RET_KILL_PROCESS, To::Next, To::Next));
            let allow2 = prog.len();
            prog.push((RET_K, libc::SECCOMP_RET_ALLOW, To::Next, To::Next));
            let mut code = Vec::with_capacity(prog.len());
            for (i, &(op, k, jt, jf)) in prog.iter().enumerate() {
                let target = |t: To| -> Option<u8> {
                    let to = match t {
                        To::Next => i + 1,
                        To::SkipOne => i + 2,
                        To::Allow if i < allow => allow,
                        To::Kill if i < kill => kill,
                        To::Allow => allow2,
                        To::Kill => kill2,
                        To::Write => write,
                        To::Prot => prot,
                    };
                    u8::try_from(to.checked_sub(i + 1)?).ok()
                };
                let (Some(jt), Some(jf)) = (target(jt), target(jf)) else {
                    return false;
                };
                code.push(sock_filter {
                    code: op,
                    jt,
                    jf,
                    k,
                });
            }
            let fprog = sock_fprog {
                len: code.len() as u16,
                filter: code.as_mut_ptr(),
            };
            // SAFETY: fprog points at `code`, which lives across the call; the kernel copies it.
            unsafe {
                libc::prctl(
                    libc::PR_SET_SECCOMP,
                    libc::SECCOMP_MODE_FILTER as libc::c_ulong,
                    &fprog as *const sock_fprog as libc::c_ulong,
                ) == 0
            }
        }
    }

    /// On other architectures the rlimits and the wall clock remain; there is no filter.
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    mod seccomp {
        pub fn install() -> bool {
            true
        }
    }
}
