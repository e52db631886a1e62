//! `ljbpf run`: a probe file, compiled, loaded, attached and shown, without writing Rust.
//!
//! It compiles the file with the same `ljbpf_build::compile_file` a `build.rs` uses and loads
//! the object with the same `ljbpf_runtime::Probe::load` generated bindings call, so what runs
//! here is what `cargo build` embeds. Then it attaches every program, streams events and
//! `print()` lines while the probe runs, and shows the maps (each as its `show` option says)
//! every `--interval` and at the end: Ctrl-C, SIGTERM or `--duration`. Every exit path drops
//! the [`Session`], which detaches the programs, closes the sockets and removes the tracefs
//! instance.

mod maps;
mod show;
mod trace;

use std::os::fd::{AsRawFd as _, RawFd};
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ljbpf_build::core::map::MapKind;
use ljbpf_build::core::program::ProgramKind;
use ljbpf_build::core::show::Show;
use ljbpf_build::{CompiledProbe, MapInfo, Options};
use ljbpf_runtime::aya::maps::perf::{PerfEvent, PerfEventArrayBuffer};
use ljbpf_runtime::aya::maps::{MapData, PerfEventArray, RingBuf};
use ljbpf_runtime::aya::programs::uprobe::UProbeScope;
use ljbpf_runtime::aya::programs::UProbe;
use ljbpf_runtime::{Probe, SocketDirection, Symbolizer, XdpMode};

use crate::Failure;
use show::{Rows, StackSide, Val};

/// What to run, as given on the command line.
pub struct Request<'a> {
    pub file: &'a Path,
    /// The interface for socket filters that name none (and instead of the one they name).
    pub iface: Option<&'a str>,
    /// Uprobes fire only in this process.
    pub pid: Option<u32>,
    /// Show the maps every this many seconds while running.
    pub interval: Option<u64>,
    /// Stop after this many seconds.
    pub duration: Option<u64>,
    /// Rows per table.
    pub top: usize,
}

/// Set by SIGINT and SIGTERM; the main loop polls it.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    // Only an atomic store: what a signal handler may do.
    STOP.store(true, Ordering::SeqCst);
}

/// Writes `text` to stdout. When the reader has gone (`ljbpf run ... | head`), the run stops
/// as at Ctrl-C, so that the session is dropped and detaches (the default SIGPIPE would kill
/// the process and leave the tracefs instance behind).
fn emit(text: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    if out
        .write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .is_err()
    {
        STOP.store(true, Ordering::SeqCst);
    }
}

/// How long one turn of the main loop waits for events.
const TICK: Duration = Duration::from_millis(100);

/// Pages per CPU of a perf buffer: bcc's default (`page_cnt=64`).
const PERF_PAGES: usize = 64;

pub fn run(req: &Request<'_>, opts: &Options) -> Result<ExitCode, Failure> {
    let compiled = crate::compile(req.file, opts)?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Err(Failure::Other(
            "run loads the probe into the kernel with the bpf() syscall and attaches it, which \
             needs root; run it as root"
                .to_owned(),
        ));
    }
    // Before loading: a program with nowhere to go is the user's to fix, not the kernel's.
    for p in &compiled.programs {
        match &p.kind {
            ProgramKind::SocketFilter { iface: None }
            | ProgramKind::Xdp { iface: None }
            | ProgramKind::Tc { iface: None, .. }
                if req.iface.is_none() =>
            {
                return Err(no_iface(&p.name, &p.kind));
            }
            ProgramKind::CgroupSkb { path: None, .. } => {
                return Err(Failure::Other(format!(
                    "program `{}` is a cgroup skb program without a cgroup: name one in the \
                     probe file (bpf.cgroup_skb('/sys/fs/cgroup/NAME', fn))",
                    p.name
                )));
            }
            _ => {}
        }
    }
    let handler: extern "C" fn(libc::c_int) = on_signal;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, handler as libc::sighandler_t);
        libc::signal(libc::SIGTERM, handler as libc::sighandler_t);
        // A closed stdout is seen by `emit`, which stops the run cleanly.
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    let failed = |e: ljbpf_runtime::Error| Failure::Other(ljbpf_cli::chain(&e));
    let probe = Probe::load(ljbpf_cli::spec(&compiled)).map_err(failed)?;
    let mut session = Session {
        compiled: &compiled,
        probe,
        perf: Vec::new(),
        rings: Vec::new(),
        trace: None,
        symbols: Symbolizer::new(),
        top: req.top,
    };
    session.attach(req)?;
    session.open_readers()?;
    let names: Vec<&str> = compiled.programs.iter().map(|p| p.name.as_str()).collect();
    let what = format!("{} ({})", req.file.display(), names.join(", "));
    match req.duration {
        Some(secs) => emit(&format!(
            "Tracing {what} for {secs} s... Hit Ctrl-C to end early.\n"
        )),
        None => emit(&format!("Tracing {what}... Hit Ctrl-C to end.\n")),
    }
    let start = Instant::now();
    let deadline = req.duration.map(|s| start + Duration::from_secs(s));
    let mut next_report = req.interval.map(|s| start + Duration::from_secs(s.max(1)));
    while !STOP.load(Ordering::SeqCst) && deadline.is_none_or(|d| Instant::now() < d) {
        session.stream(TICK)?;
        if let (Some(at), Some(every)) = (next_report, req.interval) {
            // An interval that ends with the run is shown once, by the final report.
            let now = Instant::now();
            if now >= at && deadline.is_none_or(|d| now < d) {
                let report = session.report()?;
                emit(&format!("\n--- {} s\n{report}", start.elapsed().as_secs()));
                next_report = Some(at + Duration::from_secs(every.max(1)));
            }
        }
    }
    // What came in during the last tick.
    session.stream(Duration::ZERO)?;
    let report = session.report()?;
    emit(&format!("\n{report}"));
    Ok(ExitCode::SUCCESS)
}

/// A loaded and attached probe with its readers. Dropping it detaches everything: the probe's
/// links (tracepoints, kprobes, uprobes), the packet sockets its filters sit on, the event
/// buffers and the tracefs instance.
struct Session<'a> {
    compiled: &'a CompiledProbe,
    // Field order is drop order: sockets and readers before the probe that owns the programs.
    perf: Vec<PerfMap<'a>>,
    rings: Vec<(&'a MapInfo, RingBuf<MapData>)>,
    trace: Option<trace::TracePipe>,
    probe: Probe,
    symbols: Symbolizer,
    top: usize,
}

/// A perf event array read on every online CPU.
struct PerfMap<'a> {
    info: &'a MapInfo,
    buffers: Vec<PerfEventArrayBuffer<MapData>>,
    _array: PerfEventArray<MapData>,
    lost: u64,
}

impl<'a> Session<'a> {
    /// Attaches every program: socket filters to a packet socket on their interface (`--iface`
    /// or the declared one), XDP programs and tc programs (on their declared hook) to that
    /// interface, uprobes to `--pid` when given, everything else to its own target.
    fn attach(&mut self, req: &Request<'_>) -> Result<(), Failure> {
        let failed = |e: ljbpf_runtime::Error| Failure::Other(ljbpf_cli::chain(&e));
        for p in &self.compiled.programs {
            match (&p.kind, req.pid) {
                (ProgramKind::Xdp { iface }, _) => {
                    let Some(iface) = req.iface.or(iface.as_deref()) else {
                        return Err(no_iface(&p.name, &p.kind));
                    };
                    self.probe
                        .attach_xdp(&p.name, iface, XdpMode::default())
                        .map_err(failed)?;
                }
                (ProgramKind::Tc { iface, direction }, _) => {
                    let Some(iface) = req.iface.or(iface.as_deref()) else {
                        return Err(no_iface(&p.name, &p.kind));
                    };
                    // Priority 0: a tcx link where the kernel has them, gone with the process.
                    self.probe
                        .attach_tc(&p.name, iface, *direction, 0)
                        .map_err(failed)?;
                }
                (ProgramKind::SocketFilter { iface }, _) => {
                    let Some(iface) = req.iface.or(iface.as_deref()) else {
                        return Err(no_iface(&p.name, &p.kind));
                    };
                    // The probe owns the packet socket; on loopback each packet is seen once.
                    self.probe
                        .attach_iface(&p.name, iface, SocketDirection::OncePerPacket)
                        .map_err(failed)?;
                }
                (ProgramKind::Uprobe { path, symbol, .. }, Some(pid)) => {
                    ljbpf_runtime::ensure_tracefs().map_err(failed)?;
                    let scope = std::num::NonZeroU32::new(pid)
                        .map_or(UProbeScope::AllProcesses, UProbeScope::OneProcess);
                    let uprobe: &mut UProbe = self
                        .probe
                        .ebpf_mut()
                        .program_mut(&p.name)
                        .and_then(|prog| prog.try_into().ok())
                        .ok_or_else(|| {
                            Failure::Other(format!("internal error: no uprobe `{}`", p.name))
                        })?;
                    // The link stays with the program, which the probe drops on exit.
                    uprobe
                        .attach(symbol.as_ref(), path.as_ref(), scope)
                        .map_err(|e| {
                            Failure::Other(format!(
                                "cannot attach `{}` to {path}:{symbol} in process {pid}: {e}",
                                p.name
                            ))
                        })?;
                }
                _ => self.probe.attach(&p.name).map_err(failed)?,
            }
        }
        Ok(())
    }

    /// Opens a reader for each map shown as events, and the trace pipe when some program
    /// calls `print()`.
    fn open_readers(&mut self) -> Result<(), Failure> {
        let failed = |e: ljbpf_runtime::Error| Failure::Other(ljbpf_cli::chain(&e));
        for info in &self.compiled.maps {
            if info.show != Show::Events || info.event.is_none() {
                continue;
            }
            let map = self.probe.take_map(&info.name).map_err(failed)?;
            let open_error = |e: &dyn std::fmt::Display| {
                Failure::Other(format!("cannot read events of map `{}`: {e}", info.name))
            };
            match info.kind {
                MapKind::PerfEventArray => {
                    let mut array = PerfEventArray::try_from(map).map_err(|e| open_error(&e))?;
                    let cpus = ljbpf_runtime::aya::util::online_cpus()
                        .map_err(|(path, e)| open_error(&format!("{path}: {e}")))?;
                    let mut buffers = Vec::new();
                    for cpu in cpus {
                        buffers.push(
                            array
                                .open(cpu, Some(PERF_PAGES))
                                .map_err(|e| open_error(&e))?,
                        );
                    }
                    self.perf.push(PerfMap {
                        info,
                        buffers,
                        _array: array,
                        lost: 0,
                    });
                }
                MapKind::Ringbuf => {
                    let ring = RingBuf::try_from(map).map_err(|e| open_error(&e))?;
                    self.rings.push((info, ring));
                }
                _ => {}
            }
        }
        if self.compiled.programs.iter().any(|p| calls_print(&p.code)) {
            let root = ljbpf_runtime::ensure_tracefs().map_err(failed)?;
            let pipe = trace::TracePipe::open(&root).map_err(|e| {
                Failure::Other(format!(
                    "cannot read print() lines: making a tracefs instance in {}: {e}",
                    root.join("instances").display()
                ))
            })?;
            self.trace = Some(pipe);
        }
        Ok(())
    }

    /// Waits up to `wait` for events, then prints every event and `print()` line that came.
    fn stream(&mut self, wait: Duration) -> Result<(), Failure> {
        let mut fds: Vec<RawFd> = Vec::new();
        for p in &self.perf {
            fds.extend(p.buffers.iter().map(|b| b.as_raw_fd()));
        }
        fds.extend(self.rings.iter().map(|(_, r)| r.as_raw_fd()));
        poll(&fds, wait);
        if fds.is_empty() && !wait.is_zero() {
            std::thread::sleep(wait);
        }
        for p in &mut self.perf {
            let Some(ty) = &p.info.event else { continue };
            let mut lines = Vec::new();
            let mut lost = 0;
            for buffer in &mut p.buffers {
                let _ = buffer.try_fold((), |(), event| {
                    match event {
                        PerfEvent::Sample { head, tail } => {
                            let mut bytes = head.to_vec();
                            bytes.extend_from_slice(tail);
                            lines.push(show::event_line(&show::decode(ty, &bytes)));
                        }
                        PerfEvent::Lost { count } => lost += count,
                    }
                    std::ops::ControlFlow::<()>::Continue(())
                });
            }
            for line in lines {
                emit(&format!("{}: {line}\n", p.info.name));
            }
            if lost > 0 {
                p.lost += lost;
                eprintln!("{}: {lost} events lost (buffers full)", p.info.name);
            }
        }
        for (info, ring) in &mut self.rings {
            let Some(ty) = &info.event else { continue };
            while let Some(item) = ring.next() {
                let line = show::event_line(&show::decode(ty, &item));
                emit(&format!("{}: {line}\n", info.name));
            }
        }
        if let Some(trace) = &mut self.trace {
            let lines = trace
                .read_lines()
                .map_err(|e| Failure::Other(format!("reading print() lines: {e}")))?;
            for line in lines {
                emit(&format!("print: {line}\n"));
            }
        }
        Ok(())
    }

    /// Every map that is shown, as its `show` option says, in declaration order.
    fn report(&mut self) -> Result<String, Failure> {
        let mut blocks = Vec::new();
        for info in &self.compiled.maps {
            let text = match info.show {
                Show::Hide | Show::Events => continue,
                Show::Table => show::table(&self.rows(info)?, false),
                Show::Syscalls => show::table(&self.rows(info)?, true),
                Show::Log2 => show::histogram(&self.entries(info)?),
                Show::Stacks => {
                    let rows = self.rows(info)?;
                    self.stacks(&rows)
                }
            };
            blocks.push(format!(
                "{} ({}, show = '{}'):\n{text}",
                info.name, info.kind, info.show
            ));
        }
        for p in &self.perf {
            if p.lost > 0 {
                blocks.push(format!("{}: {} events lost in all\n", p.info.name, p.lost));
            }
        }
        // One blank line between blocks.
        Ok(blocks.join("\n"))
    }

    /// A map's entries decoded, per-CPU values summed, never-written array entries left out.
    fn entries(&self, info: &MapInfo) -> Result<Vec<(Val, Val)>, Failure> {
        let read_error = |e: &dyn std::fmt::Display| {
            Failure::Other(format!("cannot read map `{}`: {e}", info.name))
        };
        let map = self
            .probe
            .map(&info.name)
            .map_err(|e| read_error(&ljbpf_cli::chain(&e)))?;
        let data = maps::data(map).ok_or_else(|| read_error(&"not a map of entries"))?;
        let per_cpu = matches!(
            info.kind,
            MapKind::PercpuArray | MapKind::PercpuHash | MapKind::LruPercpuHash
        );
        let cpus = if per_cpu {
            maps::possible_cpus().map_err(|e| read_error(&e))?
        } else {
            1
        };
        let value_size = if per_cpu {
            (info.value.size() as usize).next_multiple_of(8) * cpus
        } else {
            info.value.size() as usize
        };
        let raw = maps::entries(data, info.key.size() as usize, value_size)
            .map_err(|e| read_error(&e))?;
        let is_array = matches!(info.kind, MapKind::Array | MapKind::PercpuArray);
        Ok(raw
            .iter()
            .map(|(k, v)| {
                let value = if per_cpu {
                    show::decode_per_cpu(&info.value, v, cpus)
                } else {
                    show::decode(&info.value, v)
                };
                (show::decode(&info.key, k), value)
            })
            .filter(|(_, v)| !(is_array && info.show != Show::Log2 && v.is_zero()))
            .collect())
    }

    fn rows(&self, info: &MapInfo) -> Result<Rows, Failure> {
        Ok(Rows::new(self.entries(info)?, self.top))
    }

    /// Rows with their stacks symbolised from the probe's (first) stack trace map.
    fn stacks(&mut self, rows: &Rows) -> String {
        let stack_map = self
            .compiled
            .maps
            .iter()
            .find(|m| m.kind == MapKind::StackTrace)
            .map(|m| m.name.as_str());
        let probe = &self.probe;
        let symbols = &mut self.symbols;
        show::stacks(rows, |side, id, key| {
            let id = u32::try_from(id).ok()?;
            let addrs = probe.stack(stack_map?, id).ok()?;
            let tgid = key
                .field("tgid")
                .or_else(|| key.field("pid"))
                .and_then(|v| u32::try_from(v.weight()).ok());
            Some(
                addrs
                    .into_iter()
                    .map(|addr| {
                        let symbol = match side {
                            StackSide::Kernel => symbols.symbolize_kernel(addr),
                            StackSide::User => tgid.and_then(|t| symbols.symbolize_user(t, addr)),
                        };
                        symbol.map_or_else(|| format!("[unknown] {addr:#x}"), |s| s.name)
                    })
                    .collect(),
            )
        })
    }
}

/// Whether compiled code calls `bpf_trace_printk` (`print()`): a `call` instruction (opcode
/// 0x85, `BPF_JMP | BPF_CALL`, source 0: a helper) with the helper's number.
fn calls_print(code: &[u8]) -> bool {
    let id = ljbpf_build::core::helper::Helper::TracePrintk.id();
    code.chunks_exact(8).any(|insn| {
        insn[0] == 0x85
            && insn[1] >> 4 == 0
            && u32::from_le_bytes([insn[4], insn[5], insn[6], insn[7]]) == id
    })
}

/// Waits with `poll(2)` until one of `fds` is readable or `wait` passes; an interrupt (Ctrl-C)
/// ends the wait early, which is what the caller wants.
fn poll(fds: &[RawFd], wait: Duration) {
    if fds.is_empty() {
        return;
    }
    let mut pollfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let millis = i32::try_from(wait.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: `pollfds` is a valid array of `pollfds.len()` pollfd structs.
    unsafe { libc::poll(pollfds.as_mut_ptr(), pollfds.len() as libc::nfds_t, millis) };
}

fn no_iface(program: &str, kind: &ProgramKind) -> Failure {
    let (what, example) = match kind {
        ProgramKind::Xdp { .. } => ("an XDP program", "bpf.xdp('eth0', fn)"),
        ProgramKind::Tc { .. } => ("a tc program", "bpf.tc('eth0', fn)"),
        _ => ("a socket filter", "bpf.socket('eth0', fn)"),
    };
    Failure::Other(format!(
        "program `{program}` is {what} without an interface: give one with --iface NAME (or \
         name it in the probe file: {example})"
    ))
}
