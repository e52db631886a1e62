//! Shared helpers of the integration tests: kernel gating, compiling probe text, loading a
//! compiled probe into the kernel, and golden files with a bless switch.

pub mod corpus;
pub mod gen;
pub mod names;

use std::path::{Path, PathBuf};

use ljbpf_build::{CompiledProbe, Diagnostics, Options};
use ljbpf_runtime::aya::maps::{Array, MapData};

/// Set to `1` to rewrite golden files instead of comparing them.
pub const BLESS_ENV: &str = "LJBPF_BLESS";

/// A probe that declares one map of every kind the probe language offers (and a program, so
/// that it loads).
pub const ALL_MAP_KINDS: &str = r#"
ffi.cdef[[ struct lpm_key { uint32_t prefixlen; uint32_t addr; }; ]]
local maps = {
  hash = bpf.map('hash', 16),
  array = bpf.map('array', 16),
  percpu_hash = bpf.map('percpu_hash', 16),
  percpu_array = bpf.map('percpu_array', 16),
  lru_hash = bpf.map('lru_hash', 16),
  lru_percpu_hash = bpf.map('lru_percpu_hash', 16),
  perf_event_array = bpf.map('perf_event_array'),
  stack_trace = bpf.map('stack_trace', 16),
  prog_array = bpf.map('prog_array', 4),
  cgroup_array = bpf.map('cgroup_array', 4),
  devmap = bpf.map('devmap', 4),
  sockmap = bpf.map('sockmap', 4),
  lpm_trie = bpf.map('lpm_trie', 16, 'struct lpm_key', 'uint32_t'),
  ringbuf = bpf.map('ringbuf', 4096),
}
maps.prog = bpf.tracepoint('syscalls/sys_enter_getpid', function (ctx) end)
return maps
"#;

/// The tests crate's directory.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Whether kernel tests can run. Without root they are skipped with a printed reason, unless
/// `LJBPF_REQUIRE_KERNEL=1`, which makes the skip a failure.
pub fn kernel_ready(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if root {
        return true;
    }
    if std::env::var("LJBPF_REQUIRE_KERNEL").as_deref() == Ok("1") {
        panic!("{test}: needs root for the bpf() syscall, and LJBPF_REQUIRE_KERNEL=1");
    }
    eprintln!("skipping {test}: needs root for the bpf() syscall");
    false
}

/// Compiles probe text (or bytes: Lua source need not be UTF-8) as the file `name` (as given
/// in diagnostics).
pub fn compile_str(name: &str, source: impl AsRef<[u8]>) -> Result<CompiledProbe, Diagnostics> {
    ljbpf_build::compile_source(Path::new(name), source, &Options::default())
}

/// Compiles probe text that must compile; panics with the diagnostics otherwise.
pub fn compile_ok(name: &str, source: &str) -> CompiledProbe {
    match compile_str(name, source) {
        Ok(p) => p,
        Err(d) => panic!("{name} does not compile:\n{d}"),
    }
}

/// Loads every program of a compiled probe into the kernel.
pub fn load(probe: &CompiledProbe) -> ljbpf_runtime::Probe {
    match ljbpf_runtime::Probe::load(ljbpf_cli::spec(probe)) {
        Ok(p) => p,
        Err(e) => panic!(
            "{} does not load: {e}\nlisting:\n{}",
            probe.name, probe.listing
        ),
    }
}

/// Compares `actual` with the golden file at `path` (relative to the tests crate), or writes
/// it when `LJBPF_BLESS=1`. Returns a description of the difference.
pub fn golden(path: &str, actual: &str) -> Result<(), String> {
    let path = root().join(path);
    if std::env::var(BLESS_ENV).as_deref() == Ok("1") {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        }
        std::fs::write(&path, actual).map_err(|e| e.to_string())?;
        return Ok(());
    }
    let expected = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "{}: {e} (run with {BLESS_ENV}=1 to create it)",
            path.display()
        )
    })?;
    if expected == actual {
        return Ok(());
    }
    let first = expected
        .lines()
        .zip(actual.lines())
        .position(|(a, b)| a != b)
        .unwrap_or(expected.lines().count().min(actual.lines().count()));
    Err(format!(
        "{} differs at line {}:\n  expected: {:?}\n  actual:   {:?}\n(run with {BLESS_ENV}=1 to accept)",
        path.display(),
        first + 1,
        expected.lines().nth(first).unwrap_or("<end>"),
        actual.lines().nth(first).unwrap_or("<end>")
    ))
}

/// A socket-filter test-run frame: 14 bytes the kernel strips (`BPF_PROG_TEST_RUN` pulls an
/// Ethernet header off), then the Ethernet header the dissector sees at offset 0 with
/// `ethertype`, then `l3`, padded to 64 bytes of packet.
pub fn frame(ethertype: u16, l3: &[u8]) -> Vec<u8> {
    let mut p = vec![0xee; 14];
    p.extend_from_slice(&[0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2]);
    p.extend_from_slice(&ethertype.to_be_bytes());
    p.extend_from_slice(l3);
    if p.len() < 14 + 64 {
        p.resize(14 + 64, 0);
    }
    p
}

/// An IPv4 frame (header length 5 words, addresses 10.0.0.1 → 10.0.0.2) with `ttl`, `proto`
/// and `payload`.
pub fn ipv4_frame(ttl: u8, proto: u8, payload: &[u8]) -> Vec<u8> {
    let mut ip = vec![
        0x45, 0, 0, 0, 0, 0, 0, 0, ttl, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    let len = (ip.len() + payload.len()) as u16;
    ip[2..4].copy_from_slice(&len.to_be_bytes());
    ip.extend_from_slice(payload);
    frame(0x0800, &ip)
}

/// An IPv4 header to build: addresses 10.0.0.1 → 10.0.0.2, TTL 64, checksum left as 0xabcd.
pub struct Ip4 {
    pub tos: u8,
    pub ttl: u8,
    pub proto: u8,
    pub src: u32,
    pub dst: u32,
    /// Option bytes (a multiple of 4): the header length is 5 + options.len() / 4 words.
    pub options: Vec<u8>,
    pub flags_frag: u16,
    pub ident: u16,
}

impl Ip4 {
    pub fn new(proto: u8) -> Self {
        Ip4 {
            tos: 0,
            ttl: 64,
            proto,
            src: 0x0a00_0001,
            dst: 0x0a00_0002,
            options: Vec::new(),
            flags_frag: 0,
            ident: 0x1234,
        }
    }

    /// The header followed by `payload`.
    pub fn with(&self, payload: &[u8]) -> Vec<u8> {
        assert_eq!(self.options.len() % 4, 0);
        let ihl = 5 + self.options.len() / 4;
        let tlen = (ihl * 4 + payload.len()) as u16;
        let mut h = vec![0x40 | ihl as u8, self.tos];
        h.extend_from_slice(&tlen.to_be_bytes());
        h.extend_from_slice(&self.ident.to_be_bytes());
        h.extend_from_slice(&self.flags_frag.to_be_bytes());
        h.extend_from_slice(&[self.ttl, self.proto, 0xab, 0xcd]);
        h.extend_from_slice(&self.src.to_be_bytes());
        h.extend_from_slice(&self.dst.to_be_bytes());
        h.extend_from_slice(&self.options);
        h.extend_from_slice(payload);
        h
    }
}

/// A UDP header (checksum 0x55aa) followed by `data`.
pub fn udp(src: u16, dst: u16, data: &[u8]) -> Vec<u8> {
    let mut u = Vec::new();
    u.extend_from_slice(&src.to_be_bytes());
    u.extend_from_slice(&dst.to_be_bytes());
    u.extend_from_slice(&((8 + data.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0x55, 0xaa]);
    u.extend_from_slice(data);
    u
}

/// TCP header with data offset 5 and `flags` (FIN=1, SYN=2, RST=4, PSH=8, ACK=16, URG=32,
/// ECE=64, CWR=128).
pub fn tcp(src: u16, dst: u16, seq: u32, flags: u8) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(&src.to_be_bytes());
    t.extend_from_slice(&dst.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&0x0102_0304u32.to_be_bytes());
    t.extend_from_slice(&[0x50, flags, 0xff, 0xf0, 0, 0, 0, 0]);
    t
}

/// The `u64` array map `name` of a loaded probe.
pub fn array_u64<'a>(
    probe: &'a mut ljbpf_runtime::Probe,
    name: &str,
) -> Array<&'a mut MapData, u64> {
    Array::try_from(probe.map_mut(name).unwrap()).unwrap()
}

/// Runs socket-filter program `prog` once on `data` (`BPF_PROG_TEST_RUN`); its return value.
pub fn test_run(p: &ljbpf_runtime::Probe, prog: &str, data: &[u8]) -> u32 {
    p.test_run(prog, data, 1)
        .unwrap_or_else(|e| panic!("{prog}: {e}"))
        .retval
}
