//! A loaded probe: the aya object, its attachments, and the sockets it owns.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::os::fd::{AsFd as _, AsRawFd as _, BorrowedFd, FromRawFd as _, OwnedFd};
use std::path::Path;

use aya::maps::Map;
use aya::programs::cgroup_skb::{CgroupSkbAttachType, CgroupSkbLink};
use aya::programs::fentry::FEntryLink;
use aya::programs::fexit::FExitLink;
use aya::programs::kprobe::KProbeLink;
use aya::programs::perf_event::{PerfEventConfig, PerfEventLink, PerfEventScope, SamplePolicy};
use aya::programs::raw_trace_point::RawTracePointLink;
use aya::programs::tc::{NlOptions, SchedClassifierLink, TcAttachOptions, TcAttachType};
use aya::programs::tp_btf::BtfTracePointLink;
use aya::programs::trace_point::TracePointLink;
use aya::programs::uprobe::{UProbeLink, UProbeScope};
use aya::programs::xdp::XdpLink;
use aya::programs::{
    CgroupAttachMode, CgroupSkb, ProbeKind, Program, ProgramError, RawTracePoint,
    RawTracePointRunOptions, SchedClassifier, SocketFilter, Xdp, XdpMode,
};
use aya::{Btf, Ebpf, EbpfLoader, TestRun as _, TestRunOptions, VerifierLogLevel};

use ljbpf_core::program::{Direction, PerfEventSpec, ProgramClass, Sample};

use crate::{ensure_tracefs, Error, ProbeSpec, ProgramInfo, ProgramKind, VerifierError};

/// Extra room in the test-run output buffer beyond the input size.
const TEST_RUN_SLACK: usize = 256;

/// `ENOTSUPP` (include/linux/errno.h, kernel-internal): what the kernel answers for a BPF
/// trampoline it cannot build (no JIT, or an architecture without trampolines).
const ENOTSUPP: i32 = 524;

/// `ETH_P_ALL` (include/uapi/linux/if_ether.h): receive every protocol.
const ETH_P_ALL: u16 = 0x0003;

/// Parses the probe's ELF and creates its maps (programs are loaded one by one after this).
pub(crate) fn load_object(spec: &ProbeSpec) -> Result<Ebpf, Error> {
    let elf = crate::relocate::relocated_elf(spec)?;
    EbpfLoader::new()
        .verifier_log_level(verifier_log_level())
        .load(&elf)
        .map_err(|source| {
            explain(
                spec,
                Error::Object {
                    probe: spec.name,
                    source: Box::new(source),
                },
            )
        })
}

/// A failed load on a kernel older than some feature the probe uses says so: the feature, the
/// version that brought it, and this kernel's. (Never a reason to refuse a load by itself:
/// distribution kernels carry later features.)
fn explain(spec: &ProbeSpec, error: Error) -> Error {
    let Some(running) = kernel_release() else {
        return error;
    };
    let unmet: Vec<String> = spec
        .requires
        .iter()
        .filter(|r| r.unmet_on(&running))
        .map(|r| format!("{} (Linux {})", r.what, r.since))
        .collect();
    if unmet.is_empty() {
        return error;
    }
    Error::KernelTooOld {
        probe: spec.name,
        running,
        needs: unmet.join(", "),
        source: Box::new(error),
    }
}

/// The running kernel's release (`uname -r`).
fn kernel_release() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .ok()
        .map(|s| s.trim().to_string())
}

/// Verifier log level for every load: `DEBUG` makes the verifier print each instruction it
/// walks (so a rejection names the failing instruction), `STATS` adds `processed N insns`.
/// aya asks for the log only after a failed load, so accepted programs cost nothing extra.
fn verifier_log_level() -> VerifierLogLevel {
    VerifierLogLevel::DEBUG | VerifierLogLevel::STATS
}

/// Result of [`Probe::test_run`] (`BPF_PROG_TEST_RUN`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestRun {
    /// The program's return value (for the last repetition).
    pub retval: u32,
    /// Average run time per repetition in nanoseconds, as the kernel measured it.
    pub duration_ns: u32,
    /// The packet after the run, as the kernel copied it out.
    pub data_out: Vec<u8>,
}

/// A link the probe owns; dropping it detaches (and removes any kprobe/uprobe event, closes
/// any perf event).
#[derive(Debug)]
enum Link {
    TracePoint(#[allow(dead_code)] TracePointLink),
    KProbe(#[allow(dead_code)] KProbeLink),
    UProbe(#[allow(dead_code)] UProbeLink),
    RawTracePoint(#[allow(dead_code)] RawTracePointLink),
    BtfTracePoint(#[allow(dead_code)] BtfTracePointLink),
    FEntry(#[allow(dead_code)] FEntryLink),
    FExit(#[allow(dead_code)] FExitLink),
    PerfEvent(#[allow(dead_code)] PerfEventLink),
    Xdp(#[allow(dead_code)] XdpLink),
    /// A tcx link, or a netlink filter on a `clsact` qdisc of the interface `qdisc` names
    /// when the probe created that qdisc (removed with the last of its filters).
    Tc {
        #[allow(dead_code)]
        link: SchedClassifierLink,
        qdisc: Option<u32>,
    },
    CgroupSkb(#[allow(dead_code)] CgroupSkbLink),
}

/// Where and how [`Probe::attach_perf_event`] opens a perf event program's events.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PerfAttach {
    /// The event and its sampling; `None` keeps what the probe file declared.
    pub event: Option<PerfEventSpec>,
    /// The CPUs to open it on; `None` means every online CPU.
    pub cpus: Option<Vec<u32>>,
    /// Only this process (and, with `inherit`, the children it starts later); `None` means
    /// every process.
    pub pid: Option<u32>,
    /// With `pid`: also count children the process starts after the attach.
    pub inherit: bool,
}

/// A loaded probe file.
///
/// Owns the aya [`Ebpf`] object (programs and maps), the links of everything attached with
/// [`attach`](Self::attach), and the `AF_PACKET` sockets opened for socket filters. Dropping it
/// detaches everything and closes every fd. Socket filters attached to a caller's socket with
/// [`attach_socket`](Self::attach_socket) stay attached until that socket is closed.
#[derive(Debug)]
pub struct Probe {
    // Field order is drop order: links and sockets go before the programs they reference.
    links: Vec<(&'static str, Link)>,
    /// `clsact` qdiscs the probe created, by interface index: how many of its tc filters use
    /// each.
    qdiscs: BTreeMap<u32, usize>,
    sockets: Vec<(&'static str, OwnedFd)>,
    attached: BTreeSet<&'static str>,
    ebpf: Ebpf,
    spec: &'static ProbeSpec,
}

impl Probe {
    /// Loads the probe's object (creating its maps) and every program of `spec` into the
    /// verifier; nothing is attached yet. Mounts tracefs first if the probe has tracepoints.
    ///
    /// A rejection is [`Error::Verifier`], naming the Lua line of the failing instruction.
    pub fn load(spec: &'static ProbeSpec) -> Result<Self, Error> {
        let has_tracepoints = spec
            .programs
            .iter()
            .any(|p| matches!(p.kind, ProgramKind::Tracepoint { .. }));
        if has_tracepoints {
            ensure_tracefs()?;
        }
        let mut ebpf = load_object(spec)?;
        let mut btf = None;
        for info in spec.programs {
            load_program(&mut ebpf, &mut btf, spec, info).map_err(|e| explain(spec, e))?;
        }
        Ok(Self {
            links: Vec::new(),
            qdiscs: BTreeMap::new(),
            sockets: Vec::new(),
            attached: BTreeSet::new(),
            ebpf,
            spec,
        })
    }

    /// The spec this probe was loaded from.
    pub fn spec(&self) -> &'static ProbeSpec {
        self.spec
    }

    /// Attaches `program` to its own target: a tracepoint, a kprobe or uprobe, or for a socket
    /// filter with an interface, a new `AF_PACKET` socket bound to that interface (kept open by
    /// the probe). Attaching an already attached program does nothing.
    ///
    /// A socket filter without interface is [`Error::NoAttachTarget`]; use
    /// [`attach_socket`](Self::attach_socket). On a kernel without kprobes, a kprobe is
    /// [`Error::NoKprobes`].
    ///
    /// Uprobes (and uretprobes, chosen by the ELF section `uprobe/` or `uretprobe/`, which must
    /// agree with `ret` of [`ProgramKind::Uprobe`] at load) fire in every process that runs the
    /// symbol. `path` may be absolute, relative, `/proc/self/exe`, or a bare library name such
    /// as `libc.so.6` (resolved through this process's maps and the ld.so cache); the symbol
    /// is looked up in the file's ELF symbol tables. On kernels ≥ 4.17 aya creates the probe
    /// with `perf_event_open` on the `uprobe` PMU, so nothing is written to
    /// `uprobe_events`: the kernel removes the probe when the last fd closes, which also
    /// happens when the process panics, aborts or is killed (tested in `tests/uprobe.rs`).
    pub fn attach(&mut self, program: &str) -> Result<(), Error> {
        let info = self.info(program)?;
        if self.attached.contains(info.name) {
            return Ok(());
        }
        let name = info.name;
        let attach_error = |source: ProgramError| Error::Attach {
            program: name.to_string(),
            target: info.kind.target(),
            source: Box::new(source),
        };
        match &info.kind {
            ProgramKind::Tracepoint { category, name } => {
                let tp: &mut aya::programs::TracePoint = self.program_mut(info)?;
                let id = tp.attach(category, name).map_err(attach_error)?;
                let link = tp.take_link(id).map_err(attach_error)?;
                self.links.push((info.name, Link::TracePoint(link)));
            }
            ProgramKind::SocketFilter { iface: None } => {
                return Err(Error::NoAttachTarget {
                    program: info.name.to_string(),
                });
            }
            ProgramKind::SocketFilter { iface: Some(iface) } => {
                let filter: &mut SocketFilter = self.program_mut(info)?;
                let socket_error = |source| Error::Socket {
                    program: info.name.to_string(),
                    iface: iface.to_string(),
                    source,
                };
                // Open with protocol 0 so nothing is received until the filter is attached,
                // then bind to ETH_P_ALL on the interface (packet(7)).
                let socket = packet_socket().map_err(socket_error)?;
                filter.attach(socket.as_fd()).map_err(attach_error)?;
                bind_packet_socket(&socket, iface).map_err(socket_error)?;
                self.sockets.push((info.name, socket));
            }
            ProgramKind::Kprobe { function, .. } => {
                let events = ensure_tracefs()?.join("kprobe_events");
                if !events.exists() {
                    return Err(Error::NoKprobes {
                        program: info.name.to_string(),
                        function: function.to_string(),
                        events,
                    });
                }
                let kprobe: &mut aya::programs::KProbe = self.program_mut(info)?;
                let id = kprobe.attach(function.as_ref(), 0).map_err(attach_error)?;
                let link = kprobe.take_link(id).map_err(attach_error)?;
                self.links.push((info.name, Link::KProbe(link)));
            }
            ProgramKind::Xdp { iface: Some(iface) } => {
                return self.attach_xdp(name, &iface.clone(), XdpMode::default());
            }
            ProgramKind::Tc {
                iface: Some(iface),
                direction,
            } => return self.attach_tc(name, &iface.clone(), *direction, 0),
            ProgramKind::CgroupSkb {
                path: Some(path), ..
            } => {
                return self.attach_cgroup(name, Path::new(path.as_ref()));
            }
            ProgramKind::Xdp { iface: None }
            | ProgramKind::Tc { iface: None, .. }
            | ProgramKind::CgroupSkb { path: None, .. } => {
                return Err(Error::NoAttachTarget {
                    program: info.name.to_string(),
                });
            }
            ProgramKind::Uprobe { path, symbol, .. } => {
                ensure_tracefs()?;
                let uprobe: &mut aya::programs::UProbe = self.program_mut(info)?;
                let id = uprobe
                    .attach(symbol.as_ref(), path.as_ref(), UProbeScope::AllProcesses)
                    .map_err(attach_error)?;
                let link = uprobe.take_link(id).map_err(attach_error)?;
                self.links.push((info.name, Link::UProbe(link)));
            }
            ProgramKind::RawTracepoint { name } => {
                let raw: &mut RawTracePoint = self.program_mut(info)?;
                let id = raw.attach(name).map_err(attach_error)?;
                let link = raw.take_link(id).map_err(attach_error)?;
                self.links.push((info.name, Link::RawTracePoint(link)));
            }
            ProgramKind::TpBtf { .. } => {
                let tp: &mut aya::programs::BtfTracePoint = self.program_mut(info)?;
                let id = tp.attach().map_err(|e| trampoline_error(info, e))?;
                let link = tp.take_link(id).map_err(attach_error)?;
                self.links.push((info.name, Link::BtfTracePoint(link)));
            }
            ProgramKind::Fentry { ret: false, .. } => {
                let fentry: &mut aya::programs::FEntry = self.program_mut(info)?;
                let id = fentry.attach().map_err(|e| trampoline_error(info, e))?;
                let link = fentry.take_link(id).map_err(attach_error)?;
                self.links.push((info.name, Link::FEntry(link)));
            }
            ProgramKind::Fentry { ret: true, .. } => {
                let fexit: &mut aya::programs::FExit = self.program_mut(info)?;
                let id = fexit.attach().map_err(|e| trampoline_error(info, e))?;
                let link = fexit.take_link(id).map_err(attach_error)?;
                self.links.push((info.name, Link::FExit(link)));
            }
            ProgramKind::PerfEvent { .. } => {
                return self.attach_perf_event(program, &PerfAttach::default());
            }
        }
        self.attached.insert(info.name);
        Ok(())
    }

    /// Attaches perf event program `program` with `options`: one `perf_event_open(2)` per
    /// CPU (every online CPU unless `options.cpus` says), for every process or only
    /// `options.pid`. The events close when the program is detached or the probe dropped (and
    /// when the process dies: they are fds). Attaching an attached program does nothing.
    pub fn attach_perf_event(&mut self, program: &str, options: &PerfAttach) -> Result<(), Error> {
        let info = self.info(program)?;
        if self.attached.contains(info.name) {
            return Ok(());
        }
        let ProgramKind::PerfEvent { event: declared } = &info.kind else {
            return Err(Error::WrongKind {
                program: info.name.to_string(),
                kind: info.kind.as_str(),
                operation: "attach_perf_event",
                expected: ProgramClass::PerfEvent.name(),
            });
        };
        let event = options.event.unwrap_or(*declared);
        let target = format!("{} {}", info.kind.as_str(), event.describe());
        let attach_error = |source: ProgramError| Error::Attach {
            program: info.name.to_string(),
            target: target.clone(),
            source: Box::new(source),
        };
        let cpus = match &options.cpus {
            Some(cpus) => cpus.clone(),
            None => aya::util::online_cpus().map_err(|(path, source)| Error::OnlineCpus {
                path: path.into(),
                source,
            })?,
        };
        let config = PerfEventConfig::Pmu {
            pmu_type: event.perf_type,
            config: event.config,
        };
        let sample = match event.sample {
            Sample::Frequency(f) => SamplePolicy::Frequency(f),
            Sample::Period(p) => SamplePolicy::Period(p),
        };
        let perf: &mut aya::programs::PerfEvent = self.program_mut(info)?;
        let mut links = Vec::new();
        for cpu in cpus {
            let scope = match options.pid {
                Some(pid) => PerfEventScope::OneProcess {
                    pid,
                    cpu: Some(cpu),
                },
                None => PerfEventScope::AllProcessesOneCpu { cpu },
            };
            let inherit = options.pid.is_some() && options.inherit;
            // On failure the links opened so far drop here, closing their events.
            let id = perf
                .attach(config, scope, sample, inherit)
                .map_err(attach_error)?;
            links.push(perf.take_link(id).map_err(attach_error)?);
        }
        self.links.extend(
            links
                .into_iter()
                .map(|link| (info.name, Link::PerfEvent(link))),
        );
        self.attached.insert(info.name);
        Ok(())
    }

    /// Runs raw tracepoint `program` once with `BPF_PROG_TEST_RUN` on `args` (its
    /// `ctx.arg0`, `ctx.arg1`, ...; at most 12, the rest are 0) and returns its return value.
    /// Needs Linux 5.10.
    pub fn test_run_raw(&self, program: &str, args: &[u64]) -> Result<u32, Error> {
        let info = self.info(program)?;
        let run_error = |source: ProgramError| Error::TestRun {
            program: info.name.to_string(),
            source: Box::new(source),
        };
        let raw: &RawTracePoint = self.program(info)?;
        let mut opts = RawTracePointRunOptions::new();
        if args.len() > opts.args.len() {
            return Err(run_error(ProgramError::SyscallError(
                aya::sys::SyscallError {
                    call: "bpf_prog_test_run",
                    io_error: io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!(
                            "{} arguments given; raw tracepoints have at most 12",
                            args.len()
                        ),
                    ),
                },
            )));
        }
        opts.args[..args.len()].copy_from_slice(args);
        Ok(raw.test_run(opts).map_err(run_error)?.return_value)
    }

    /// Attaches XDP program `program` to interface `iface` in `mode` (with a BPF link where
    /// the kernel has them, 5.9: the kernel detaches it when the probe is dropped or the
    /// process dies; aya falls back to netlink on older kernels). Attaching an attached
    /// program does nothing.
    pub fn attach_xdp(&mut self, program: &str, iface: &str, mode: XdpMode) -> Result<(), Error> {
        let info = self.info(program)?;
        if self.attached.contains(info.name) {
            return Ok(());
        }
        let target = format!("XDP on {iface} ({mode:?})");
        let attach_error = |source: ProgramError| Error::Attach {
            program: info.name.to_string(),
            target: target.clone(),
            source: Box::new(source),
        };
        let xdp: &mut Xdp = self.program_mut(info)?;
        let id = xdp.attach(iface, mode).map_err(attach_error)?;
        let link = xdp.take_link(id).map_err(attach_error)?;
        self.links.push((info.name, Link::Xdp(link)));
        self.attached.insert(info.name);
        Ok(())
    }

    /// Attaches tc program `program` in direct-action mode to the `direction` hook of
    /// interface `iface`.
    ///
    /// Priority 0 lets aya choose: a tcx link on kernels from 6.6 (no qdisc; the kernel
    /// detaches it when the probe is dropped or the process dies), else a netlink filter.
    /// Any other priority makes a netlink filter at that priority. Netlink filters need a
    /// `clsact` qdisc: the probe adds one if the interface has none, and removes it with its
    /// last filter when detaching or dropping (a qdisc that was there before stays). Netlink
    /// filters outlive a process that is killed before it drops the probe.
    pub fn attach_tc(
        &mut self,
        program: &str,
        iface: &str,
        direction: Direction,
        priority: u16,
    ) -> Result<(), Error> {
        let info = self.info(program)?;
        if self.attached.contains(info.name) {
            return Ok(());
        }
        let target = format!("tc {direction} on {iface}");
        let attach_error = |source: ProgramError| Error::Attach {
            program: info.name.to_string(),
            target: target.clone(),
            source: Box::new(source),
        };
        let attach_type = match direction {
            Direction::Ingress => TcAttachType::Ingress,
            Direction::Egress => TcAttachType::Egress,
        };
        let tcx = priority == 0 && tcx_links();
        let mut qdisc = None;
        if !tcx {
            let created =
                crate::tc::add_clsact(iface).map_err(|e| attach_error(ProgramError::from(e)))?;
            if created {
                let ifindex = ifindex(iface).map_err(|e| {
                    attach_error(ProgramError::from(aya::programs::tc::TcError::IoError(e)))
                })?;
                self.qdiscs.entry(ifindex).or_insert(0);
                qdisc = Some(ifindex);
            } else if let Ok(ifindex) = ifindex(iface) {
                // Ours from an earlier attach of this probe: this filter keeps it too.
                if self.qdiscs.contains_key(&ifindex) {
                    qdisc = Some(ifindex);
                }
            }
        }
        let tc: &mut SchedClassifier = self.program_mut(info)?;
        let result = if tcx {
            tc.attach(iface, attach_type)
        } else {
            tc.attach_with_options(
                iface,
                attach_type,
                TcAttachOptions::Netlink(NlOptions {
                    priority,
                    ..NlOptions::default()
                }),
            )
        };
        let link = result.and_then(|id| tc.take_link(id));
        let link = match link {
            Ok(link) => link,
            Err(e) => {
                if let Some(ifindex) = qdisc {
                    self.release_qdisc(ifindex);
                }
                return Err(attach_error(e));
            }
        };
        if let Some(ifindex) = qdisc {
            *self.qdiscs.entry(ifindex).or_insert(0) += 1;
        }
        self.links.push((info.name, Link::Tc { link, qdisc }));
        self.attached.insert(info.name);
        Ok(())
    }

    /// Attaches cgroup skb program `program` to the cgroup v2 directory `cgroup`, in the
    /// direction its declaration names. From Linux 5.7 this is a BPF link, which runs beside
    /// the cgroup's other programs (links are always `BPF_F_ALLOW_MULTI`; the kernel refuses
    /// flags with them) and closes when the probe is dropped or the process dies; older
    /// kernels attach it as the cgroup's only program.
    pub fn attach_cgroup(&mut self, program: &str, cgroup: &Path) -> Result<(), Error> {
        let info = self.info(program)?;
        if self.attached.contains(info.name) {
            return Ok(());
        }
        let ProgramKind::CgroupSkb { direction, .. } = info.kind else {
            return Err(Error::WrongKind {
                program: info.name.to_string(),
                kind: info.kind.as_str(),
                operation: "attach to a cgroup",
                expected: ProgramClass::CgroupSkb.name(),
            });
        };
        let target = format!("cgroup skb {direction} of {}", cgroup.display());
        let attach_error = |source: ProgramError| Error::Attach {
            program: info.name.to_string(),
            target: target.clone(),
            source: Box::new(source),
        };
        let dir =
            std::fs::File::open(cgroup).map_err(|e| attach_error(ProgramError::IOError(e)))?;
        let attach_type = match direction {
            Direction::Ingress => CgroupSkbAttachType::Ingress,
            Direction::Egress => CgroupSkbAttachType::Egress,
        };
        let prog: &mut CgroupSkb = self.program_mut(info)?;
        let id = prog
            .attach(&dir, attach_type, CgroupAttachMode::Single)
            .map_err(attach_error)?;
        let link = prog.take_link(id).map_err(attach_error)?;
        self.links.push((info.name, Link::CgroupSkb(link)));
        self.attached.insert(info.name);
        Ok(())
    }

    /// One tc filter of the probe's no longer uses the qdisc of `ifindex`; the last one
    /// deletes it (errors ignored: the interface may be gone already).
    fn release_qdisc(&mut self, ifindex: u32) {
        let Some(users) = self.qdiscs.get_mut(&ifindex) else {
            return;
        };
        *users = users.saturating_sub(1);
        if *users == 0 {
            self.qdiscs.remove(&ifindex);
            let _gone = crate::tc::del_clsact(ifindex);
        }
    }

    /// Drops the links of `program` (all programs when `None`), filters before the qdiscs
    /// they sit on.
    fn drop_links(&mut self, program: Option<&str>) {
        let mut kept = Vec::new();
        let mut released = Vec::new();
        for (owner, link) in std::mem::take(&mut self.links) {
            if program.is_some_and(|p| p != owner) {
                kept.push((owner, link));
                continue;
            }
            if let Link::Tc {
                qdisc: Some(ifindex),
                ..
            } = &link
            {
                released.push(*ifindex);
            }
            drop(link);
        }
        self.links = kept;
        for ifindex in released {
            self.release_qdisc(ifindex);
        }
    }

    /// Attaches socket filter `program` to the caller's socket (`SO_ATTACH_BPF`). The filter
    /// stays attached until the socket is closed or the caller detaches it; the probe does not
    /// track it.
    pub fn attach_socket(&mut self, program: &str, fd: BorrowedFd<'_>) -> Result<(), Error> {
        let info = self.info(program)?;
        let filter: &mut SocketFilter = self.program_mut(info)?;
        filter.attach(fd).map_err(|source| Error::Attach {
            program: info.name.to_string(),
            target: format!("socket fd {}", fd.as_raw_fd()),
            source: Box::new(source),
        })
    }

    /// Attaches every program whose target the probe file names; socket filters, XDP and tc
    /// programs without interface and cgroup skb programs without cgroup are skipped. Stops at the first failure (what was attached so far stays attached).
    pub fn attach_all(&mut self) -> Result<(), Error> {
        for info in self.spec.programs {
            if info.kind.has_target() {
                self.attach(info.name)?;
            }
        }
        Ok(())
    }

    /// Detaches everything [`attach`](Self::attach) attached for `program` (links dropped,
    /// packet sockets closed). Detaching a program that is not attached does nothing.
    pub fn detach(&mut self, program: &str) -> Result<(), Error> {
        let name = self.info(program)?.name;
        self.drop_links(Some(name));
        self.sockets.retain(|(owner, _)| *owner != name);
        self.attached.remove(name);
        Ok(())
    }

    /// The map `name`, for typed access through aya, e.g.
    /// `aya::maps::HashMap::<_, u32, u64>::try_from(probe.map("counts")?)`.
    pub fn map(&self, name: &str) -> Result<&Map, Error> {
        self.ebpf.map(name).ok_or_else(|| Error::UnknownMap {
            probe: self.spec.name,
            map: name.to_string(),
        })
    }

    /// The map `name`, mutably (for updates, or typed maps that need `&mut`).
    pub fn map_mut(&mut self, name: &str) -> Result<&mut Map, Error> {
        let probe = self.spec.name;
        self.ebpf.map_mut(name).ok_or_else(|| Error::UnknownMap {
            probe,
            map: name.to_string(),
        })
    }

    /// Moves the map `name` out of the probe (e.g. for an owned typed map). The map stays alive
    /// as long as the returned value, even after the probe is dropped.
    pub fn take_map(&mut self, name: &str) -> Result<Map, Error> {
        let probe = self.spec.name;
        self.ebpf.take_map(name).ok_or_else(|| Error::UnknownMap {
            probe,
            map: name.to_string(),
        })
    }

    /// Runs socket filter, XDP, tc or cgroup skb program `program` on packet `data` with
    /// `BPF_PROG_TEST_RUN`, `repeat` times (0 counts as 1).
    ///
    /// `data` is a whole Ethernet frame and must be at least 14 bytes. For socket filters
    /// and cgroup skb programs the kernel strips the Ethernet header before running the
    /// program (net/bpf/test_run.c calls `eth_type_trans`), so `skb->data`, and offset 0 of
    /// `BPF_LD_ABS` / `bpf_skb_load_bytes`, is `data[14]`; on an `AF_PACKET` raw socket
    /// offset 0 is the first byte of the Ethernet header instead. XDP and tc programs see the
    /// whole frame. `data_out` is the packet after the run (with an XDP or tc program's
    /// writes).
    pub fn test_run(&self, program: &str, data: &[u8], repeat: u32) -> Result<TestRun, Error> {
        let info = self.info(program)?;
        let loaded = self
            .ebpf
            .program(info.name)
            .ok_or_else(|| self.unknown(info))?;
        let mut data_out = vec![0; data.len() + TEST_RUN_SLACK];
        let opts = TestRunOptions {
            data_in: Some(data),
            data_out: Some(&mut data_out),
            repeat,
            ..TestRunOptions::new()
        };
        let result = match loaded {
            Program::SocketFilter(p) => p.test_run(opts),
            Program::Xdp(p) => p.test_run(opts),
            Program::SchedClassifier(p) => p.test_run(opts),
            Program::CgroupSkb(p) => p.test_run(opts),
            other => {
                return Err(Error::WrongKind {
                    program: info.name.to_string(),
                    kind: aya_kind(other),
                    operation: "test-run",
                    expected: "a socket filter, XDP, tc or cgroup skb program",
                })
            }
        };
        let result = result.map_err(|source| Error::TestRun {
            program: info.name.to_string(),
            source: Box::new(source),
        })?;
        data_out.truncate(result.data_size_out as usize);
        Ok(TestRun {
            retval: result.return_value,
            duration_ns: u32::try_from(result.duration.as_nanos()).unwrap_or(u32::MAX),
            data_out,
        })
    }

    /// The fd of loaded program `program`.
    pub fn program_fd(&self, program: &str) -> Result<BorrowedFd<'_>, Error> {
        let info = self.info(program)?;
        let loaded = self
            .ebpf
            .program(info.name)
            .ok_or_else(|| self.unknown(info))?;
        let fd = loaded.fd().map_err(|source| Error::ProgramFd {
            program: info.name.to_string(),
            source: Box::new(source),
        })?;
        Ok(fd.as_fd())
    }

    /// The aya object, for anything this API does not cover.
    pub fn ebpf(&self) -> &Ebpf {
        &self.ebpf
    }

    /// The aya object, mutably.
    pub fn ebpf_mut(&mut self) -> &mut Ebpf {
        &mut self.ebpf
    }

    fn info(&self, program: &str) -> Result<&'static ProgramInfo, Error> {
        self.spec
            .program(program)
            .ok_or_else(|| Error::UnknownProgram {
                probe: self.spec.name,
                program: program.to_string(),
            })
    }

    fn unknown(&self, info: &ProgramInfo) -> Error {
        Error::UnknownProgram {
            probe: self.spec.name,
            program: info.name.to_string(),
        }
    }

    fn program<'a, T>(&'a self, info: &ProgramInfo) -> Result<&'a T, Error>
    where
        &'a T: TryFrom<&'a Program, Error = ProgramError>,
    {
        let program = self
            .ebpf
            .program(info.name)
            .ok_or_else(|| self.unknown(info))?;
        let found = aya_kind(program);
        program.try_into().map_err(|_| Error::WrongKind {
            program: info.name.to_string(),
            kind: found,
            operation: "this operation",
            expected: info.kind.as_str(),
        })
    }

    fn program_mut<'a, T>(&'a mut self, info: &ProgramInfo) -> Result<&'a mut T, Error>
    where
        &'a mut T: TryFrom<&'a mut Program, Error = ProgramError>,
    {
        let unknown = self.unknown(info);
        let program = self.ebpf.program_mut(info.name).ok_or(unknown)?;
        let found = aya_kind(program);
        program.try_into().map_err(|_| Error::WrongKind {
            program: info.name.to_string(),
            kind: found,
            operation: "attach",
            expected: info.kind.as_str(),
        })
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        // Explicit so the order does not hinge on field order: detach (tc filters before the
        // qdiscs the probe created), close sockets, then `ebpf` unloads programs and closes
        // map fds.
        self.drop_links(None);
        self.sockets.clear();
    }
}

/// Loads one program of an already parsed object into the verifier, checking that the ELF
/// section agrees with the spec's kind. `btf` holds the kernel's BTF once a BTF-typed program
/// (whose target is a BTF id of the loading kernel) needed it.
pub(crate) fn load_program(
    ebpf: &mut Ebpf,
    btf: &mut Option<Btf>,
    spec: &ProbeSpec,
    info: &ProgramInfo,
) -> Result<(), Error> {
    if matches!(
        info.kind,
        ProgramKind::TpBtf { .. } | ProgramKind::Fentry { .. }
    ) && btf.is_none()
    {
        *btf = Some(Btf::from_sys_fs().map_err(|source| Error::KernelBtf {
            program: info.name.to_string(),
            target: info.kind.target(),
            source: Box::new(source),
        })?);
    }
    let program = ebpf
        .program_mut(info.name)
        .ok_or_else(|| Error::UnknownProgram {
            probe: spec.name,
            program: info.name.to_string(),
        })?;
    let found = aya_kind(program);
    let result = match (&info.kind, program) {
        (ProgramKind::Tracepoint { .. }, Program::TracePoint(p)) => p.load(),
        (ProgramKind::SocketFilter { .. }, Program::SocketFilter(p)) => p.load(),
        (ProgramKind::Xdp { .. }, Program::Xdp(p)) => p.load(),
        (ProgramKind::Tc { .. }, Program::SchedClassifier(p)) => p.load(),
        (ProgramKind::CgroupSkb { .. }, Program::CgroupSkb(p)) => p.load(),
        (ProgramKind::Kprobe { ret, .. }, Program::KProbe(p))
            if *ret == (matches!(p.kind(), ProbeKind::Return)) =>
        {
            p.load()
        }
        (ProgramKind::Uprobe { ret, .. }, Program::UProbe(p))
            if *ret == (matches!(p.kind(), ProbeKind::Return)) =>
        {
            p.load()
        }
        (ProgramKind::RawTracepoint { .. }, Program::RawTracePoint(p)) => p.load(),
        (ProgramKind::PerfEvent { .. }, Program::PerfEvent(p)) => p.load(),
        (ProgramKind::TpBtf { name }, Program::BtfTracePoint(p)) => {
            p.load(name, btf.as_ref().expect("loaded above"))
        }
        (
            ProgramKind::Fentry {
                function,
                ret: false,
            },
            Program::FEntry(p),
        ) => p.load(function, btf.as_ref().expect("loaded above")),
        (
            ProgramKind::Fentry {
                function,
                ret: true,
            },
            Program::FExit(p),
        ) => p.load(function, btf.as_ref().expect("loaded above")),
        _ => {
            return Err(Error::WrongKind {
                program: info.name.to_string(),
                kind: found,
                operation: "loading as the spec says",
                expected: info.kind.as_str(),
            })
        }
    };
    result.map_err(|source| match source {
        ProgramError::LoadError {
            io_error,
            verifier_log,
        } if trampoline_refused(info, &io_error, &verifier_log.to_string()) => {
            Error::NoTrampoline {
                program: info.name.to_string(),
                target: info.kind.target(),
                source: Box::new(ProgramError::LoadError {
                    io_error,
                    verifier_log,
                }),
            }
        }
        ProgramError::LoadError {
            io_error,
            verifier_log,
        } => VerifierError::from_log(info, io_error, verifier_log.to_string()).into(),
        source => Error::Load {
            program: info.name.to_string(),
            source: Box::new(source),
        },
    })
}

/// The kind aya derived from the ELF section, in [`ProgramKind::as_str`] terms.
fn aya_kind(program: &Program) -> &'static str {
    let class = match program {
        Program::TracePoint(_) => ProgramClass::Tracepoint,
        Program::SocketFilter(_) => ProgramClass::SocketFilter,
        Program::KProbe(p) if matches!(p.kind(), ProbeKind::Return) => ProgramClass::Kretprobe,
        Program::KProbe(_) => ProgramClass::Kprobe,
        Program::UProbe(p) if matches!(p.kind(), ProbeKind::Return) => ProgramClass::Uretprobe,
        Program::UProbe(_) => ProgramClass::Uprobe,
        Program::RawTracePoint(_) => ProgramClass::RawTracepoint,
        Program::BtfTracePoint(_) => ProgramClass::TpBtf,
        Program::FEntry(_) => ProgramClass::Fentry,
        Program::FExit(_) => ProgramClass::Fexit,
        Program::PerfEvent(_) => ProgramClass::PerfEvent,
        Program::Xdp(_) => ProgramClass::Xdp,
        Program::SchedClassifier(_) => ProgramClass::Tc,
        Program::CgroupSkb(_) => ProgramClass::CgroupSkb,
        _ => return "program type ljbpf does not use",
    };
    class.name()
}

/// Whether a failed load of a trampoline-based program was refused before the verifier ran:
/// ENOTSUPP, or EPERM (as root) with an empty log, which is what a kernel that cannot attach
/// trampolines answers (seen on a virtualised Linux 6.18 whose kprobes are off too).
fn trampoline_refused(info: &ProgramInfo, error: &io::Error, log: &str) -> bool {
    let trampoline = matches!(
        info.kind,
        ProgramKind::Fentry { .. } | ProgramKind::TpBtf { .. }
    );
    let errno = error.raw_os_error();
    trampoline && (errno == Some(ENOTSUPP) || (errno == Some(libc::EPERM) && log.trim().is_empty()))
}

/// An attach error of a trampoline-based program, explained when the kernel cannot build
/// trampolines at all.
fn trampoline_error(info: &ProgramInfo, source: ProgramError) -> Error {
    let enotsupp = match &source {
        ProgramError::SyscallError(e) => e.io_error.raw_os_error() == Some(ENOTSUPP),
        _ => false,
    };
    if enotsupp {
        Error::NoTrampoline {
            program: info.name.to_string(),
            target: info.kind.target(),
            source: Box::new(source),
        }
    } else {
        Error::Attach {
            program: info.name.to_string(),
            target: info.kind.target(),
            source: Box::new(source),
        }
    }
}

/// Whether tc programs attach as tcx links (Linux 6.6), as aya decides.
fn tcx_links() -> bool {
    use aya::util::KernelVersion;
    KernelVersion::current().is_ok_and(|v| v >= KernelVersion::new(6, 6, 0))
}

fn ifindex(iface: &str) -> io::Result<u32> {
    let c_iface = std::ffi::CString::new(iface)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface name contains NUL"))?;
    // SAFETY: `c_iface` is a valid NUL-terminated string.
    let ifindex = unsafe { libc::if_nametoindex(c_iface.as_ptr()) };
    if ifindex == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(ifindex)
}

fn packet_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain syscall; the returned fd is checked and then owned.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh, valid fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn bind_packet_socket(socket: &OwnedFd, iface: &str) -> io::Result<()> {
    let ifindex = ifindex(iface)?;
    // SAFETY: sockaddr_ll is plain old data; all-zero is valid.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = ETH_P_ALL.to_be();
    addr.sll_ifindex = i32::try_from(ifindex)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface index too large"))?;
    // SAFETY: `addr` is a valid sockaddr_ll and the length matches it.
    let ret = unsafe {
        libc::bind(
            socket.as_raw_fd(),
            std::ptr::from_ref(&addr).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if ret != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
