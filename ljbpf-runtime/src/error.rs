//! The runtime's error type.

use std::fmt;
use std::io;
use std::path::PathBuf;

use aya::programs::ProgramError;

use crate::VerifierError;

/// Everything that can go wrong loading, attaching or running a probe.
///
/// `Debug` prints what `Display` does, followed by the chain of causes, one per line, so that a
/// `main` returning `Result<(), Error>` (or a `Box<dyn Error>` holding one) prints a short
/// message; the full verifier log of a rejection is [`VerifierError::log`].
#[derive(thiserror::Error)]
pub enum Error {
    /// A pseudo filesystem (tracefs, bpffs) is not mounted and could not be mounted.
    #[error("{fs} is not mounted at {path}: {hint}")]
    NotMounted {
        /// Filesystem type, `tracefs` or `bpf`.
        fs: &'static str,
        /// Expected mount point.
        path: PathBuf,
        /// What to do about it.
        hint: String,
    },
    /// `mount(2)` failed.
    #[error("cannot mount {fs} at {path}")]
    Mount {
        /// Filesystem type.
        fs: &'static str,
        /// Mount point.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// aya could not parse the ELF object or create its maps.
    #[error("cannot load probe {probe}")]
    Object {
        /// Probe name.
        probe: &'static str,
        /// aya's error.
        #[source]
        source: Box<aya::EbpfError>,
    },
    /// Loading failed on a kernel older than features the probe uses.
    #[error("probe {probe} uses what this kernel ({running}) predates: {needs}")]
    KernelTooOld {
        /// Probe name.
        probe: &'static str,
        /// The running kernel's release.
        running: String,
        /// The features it lacks, with the versions that brought them.
        needs: String,
        /// The failure itself.
        #[source]
        source: Box<Error>,
    },
    /// A tracepoint field the program reads does not exist on the running kernel.
    #[error(
        "program {program} ({location}) reads field `{field}` of tracepoint {event}, which this \
         kernel's tracepoint does not have; rebuild the probe for this kernel or read another field"
    )]
    MissingField {
        /// Program name.
        program: String,
        /// The Lua `file:line` of the read.
        location: String,
        /// The tracepoint, `category/name`.
        event: String,
        /// The field.
        field: String,
    },
    /// A tracepoint field the program reads has another size on the running kernel.
    #[error(
        "program {program} ({location}) reads field `{field}` of tracepoint {event} as {built} \
         bytes, but this kernel's field has {running}"
    )]
    ChangedField {
        /// Program name.
        program: String,
        /// The Lua `file:line` of the read.
        location: String,
        /// The tracepoint, `category/name`.
        event: String,
        /// The field.
        field: String,
        /// Its size when the probe was compiled.
        built: u32,
        /// Its size on this kernel.
        running: u32,
    },
    /// The running kernel has no tracepoint of that name (its tracefs has no format file for
    /// it): the program was compiled for a kernel that has one.
    #[error(
        "program {program} reads tracepoint {event}, which this kernel does not have (no \
         {path}); the kernel's tracepoints are the directories under {events}"
    )]
    NoTracepoint {
        /// Program name.
        program: String,
        /// The tracepoint, `category/name`.
        event: String,
        /// The format file looked for.
        path: PathBuf,
        /// The tracefs events directory.
        events: PathBuf,
    },
    /// A tracepoint format file of the running kernel cannot be read.
    #[error("cannot read {path}")]
    Tracefs {
        /// The format file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The object's relocation records do not fit the object (a compiler bug).
    #[error("cannot relocate probe {probe}: {message}")]
    Relocation {
        /// Probe name.
        probe: &'static str,
        /// What does not fit.
        message: String,
    },
    /// The verifier rejected a program.
    #[error(transparent)]
    Verifier {
        /// The rejection, with the verifier log and Lua line.
        #[from]
        source: Box<VerifierError>,
    },
    /// Loading a program failed for a reason other than a verifier rejection.
    #[error("cannot load program {program}")]
    Load {
        /// Program name.
        program: String,
        /// aya's error.
        #[source]
        source: Box<ProgramError>,
    },
    /// The spec names a program the ELF object does not contain.
    #[error("probe {probe} has no program {program}")]
    UnknownProgram {
        /// Probe name.
        probe: &'static str,
        /// Requested program.
        program: String,
    },
    /// The ELF object has no map of that name.
    #[error("probe {probe} has no map {map}")]
    UnknownMap {
        /// Probe name.
        probe: &'static str,
        /// Requested map.
        map: String,
    },
    /// The program's kind does not allow the requested operation.
    #[error("program {program} is a {kind}, {operation} needs {expected}")]
    WrongKind {
        /// Program name.
        program: String,
        /// The program's kind (from the spec or the ELF section).
        kind: &'static str,
        /// What was attempted.
        operation: &'static str,
        /// Which kind would have allowed it.
        expected: &'static str,
    },
    /// The program has no attach target of its own (a socket filter without interface).
    #[error(
        "program {program} has no attach target; attach it with Probe::attach_iface (an \
         interface by name) or Probe::attach_socket (a socket of yours)"
    )]
    NoAttachTarget {
        /// Program name.
        program: String,
    },
    /// The kernel was built without kprobes, so kprobe programs load but cannot attach.
    #[error(
        "kernel has no kprobe support (CONFIG_KPROBES unset): cannot attach program {program} \
         to {function}; {events} is absent"
    )]
    NoKprobes {
        /// Program name.
        program: String,
        /// Kernel function it was meant for.
        function: String,
        /// The tracefs file whose absence tells.
        events: PathBuf,
    },
    /// A BTF-typed program (tp_btf, fentry, fexit) needs the running kernel's BTF to find its
    /// target, and it cannot be read.
    #[error(
        "program {program} ({target}) needs the kernel's BTF (/sys/kernel/btf/vmlinux, \
         CONFIG_DEBUG_INFO_BTF=y), which cannot be read"
    )]
    KernelBtf {
        /// Program name.
        program: String,
        /// Its target, e.g. `fentry do_unlinkat`.
        target: String,
        /// aya's error.
        #[source]
        source: Box<aya::BtfError>,
    },
    /// The kernel refused a trampoline-based program (fentry, fexit, tp_btf) before verifying
    /// it (ENOTSUPP, or EPERM without a verifier message): BPF trampolines need the BPF JIT,
    /// ftrace direct calls and an architecture that has them.
    #[error(
        "the kernel refused program {program} ({target}) before verifying it: it cannot attach \
         BPF trampolines here (they need the BPF JIT, sysctl net.core.bpf_jit_enable=1; ftrace \
         direct calls, CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS; x86-64, or arm64 since Linux \
         6.0; some virtualised kernels refuse them); use a kprobe or a raw tracepoint instead"
    )]
    NoTrampoline {
        /// Program name.
        program: String,
        /// Its target.
        target: String,
        /// aya's error.
        #[source]
        source: Box<ProgramError>,
    },
    /// Attaching failed.
    #[error("cannot attach program {program} to {target}")]
    Attach {
        /// Program name.
        program: String,
        /// Attach target, e.g. `tracepoint syscalls/sys_enter_getpid`.
        target: String,
        /// aya's error.
        #[source]
        source: Box<ProgramError>,
    },
    /// Creating or binding the `AF_PACKET` socket of a socket filter failed.
    #[error("cannot open a packet socket on {iface} for program {program}")]
    Socket {
        /// Program name.
        program: String,
        /// Interface name.
        iface: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// `BPF_PROG_TEST_RUN` failed.
    #[error("test run of program {program} failed")]
    TestRun {
        /// Program name.
        program: String,
        /// aya's error.
        #[source]
        source: Box<ProgramError>,
    },
    /// A map could not be opened as the typed map the bindings expect.
    #[error("map {map} cannot be used as {expected}")]
    MapType {
        /// Map name.
        map: String,
        /// The Rust map type wanted.
        expected: &'static str,
        /// aya's error.
        #[source]
        source: Box<aya::maps::MapError>,
    },
    /// A loaded program has no fd (it was not loaded).
    #[error("program {program} has no fd")]
    ProgramFd {
        /// Program name.
        program: String,
        /// aya's error.
        #[source]
        source: Box<ProgramError>,
    },
    /// The online CPUs could not be read (to open a perf buffer on each).
    #[error("cannot read the online CPUs from {path}")]
    OnlineCpus {
        /// The sysfs file read.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Opening (`perf_event_open`, `mmap`) the perf buffer of one CPU failed.
    #[error("cannot open the perf buffer of map {map} on CPU {cpu}")]
    PerfBuffer {
        /// Map name.
        map: String,
        /// The CPU.
        cpu: u32,
        /// aya's error.
        #[source]
        source: Box<aya::maps::perf::PerfBufferError>,
    },
    /// `poll(2)` on an event map's fds failed.
    #[error("cannot poll event map {map}")]
    Poll {
        /// Map name.
        map: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// An event record is shorter than the Rust type it is decoded into.
    #[error("event of map {map} has {got} bytes, the event type needs {expected}")]
    EventSize {
        /// Map name.
        map: String,
        /// `size_of` the event type.
        expected: usize,
        /// Bytes in the record.
        got: usize,
    },
    /// A stack id could not be read from a `stack_trace` map (e.g. it was never stored, or
    /// was overwritten by a colliding stack).
    #[error("cannot read stack {stack_id} of map {map}")]
    StackTrace {
        /// Map name.
        map: String,
        /// The stack id (`bpf_get_stackid`'s result).
        stack_id: u32,
        /// aya's error.
        #[source]
        source: Box<aya::maps::MapError>,
    },
}

impl From<VerifierError> for Error {
    fn from(error: VerifierError) -> Self {
        Self::Verifier {
            source: Box::new(error),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")?;
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            write!(f, "\n  caused by: {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}
