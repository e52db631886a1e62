//! The interpreter's world: memory regions, maps, the packet and the helpers.
//!
//! Region 0 is the stack (512 bytes, `MAX_BPF_STACK`), region 1 the context; map values get
//! a region each when they come to exist. A map's pointer (what `LD_IMM64` with
//! `BPF_PSEUDO_MAP_FD` yields) is [`MAP_TAG`] plus its index, which no region contains, so
//! dereferencing it faults. Helpers are deterministic: time, random numbers, pid and comm are
//! fixed sequences or constants.

use std::collections::BTreeMap;

use super::{FaultKind, BUDGET};
use crate::helper::Helper;
use crate::map::{Keys, MapKind};

/// Stack bytes under R10 (`MAX_BPF_STACK`, include/linux/filter.h).
pub const STACK: usize = 512;

/// Map pointers are this plus the map's index.
pub const MAP_TAG: u64 = 0xffff_0000_0000_0000;

/// `sizeof(struct __sk_buff)` (include/uapi/linux/bpf.h, Linux 6.18).
pub const SKB_SIZE: usize = 192;

const EFAULT: i64 = -14;
const ENOENT: i64 = -2;
const EEXIST: i64 = -17;
const EINVAL: i64 = -22;
const E2BIG: i64 = -7;

/// The fixed answers of helpers that read the environment.
pub const PID_TGID: u64 = 0x0000_1234_0000_1235;
/// `bpf_get_current_uid_gid`'s answer.
pub const UID_GID: u64 = 0x0000_03e8_0000_03e8;
/// `bpf_get_current_comm`'s answer.
pub const COMM: &[u8] = b"ljbpf-interp";

/// A map as the interpreter needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapDef {
    /// Its kind.
    pub kind: MapKind,
    /// Key bytes.
    pub key_size: u32,
    /// Value bytes.
    pub value_size: u32,
    /// Maximum number of entries.
    pub max_entries: u32,
}

/// Something a helper sent out of the program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// `bpf_trace_printk(fmt, size, a, b, c)`: the format bytes and the three arguments.
    Printk {
        /// The format, as passed (including its NUL).
        fmt: Vec<u8>,
        /// Arguments R3–R5.
        args: [u64; 3],
    },
    /// `bpf_perf_event_output` / `bpf_ringbuf_output`: the map and the record's bytes.
    Output {
        /// The map's index.
        map: usize,
        /// The flags argument.
        flags: u64,
        /// The record.
        data: Vec<u8>,
    },
}

struct Region {
    bytes: Vec<u8>,
    writable: bool,
    live: bool,
}

struct Map {
    def: MapDef,
    /// Key bytes → region of the value.
    entries: BTreeMap<Vec<u8>, usize>,
}

/// The interpreter's state: it persists across runs (maps, events), like a loaded program's.
pub struct Machine {
    regions: Vec<Region>,
    maps: Vec<Map>,
    packet: Vec<u8>,
    /// What helpers sent out, in order.
    pub events: Vec<Event>,
    /// Instruction budget per run.
    pub budget: u64,
    ktime: u64,
    prandom: u64,
}

impl Machine {
    /// A machine with these maps (indexed as `MapId`s), an empty context and packet.
    pub fn new(maps: &[MapDef]) -> Machine {
        Machine {
            regions: vec![
                Region {
                    bytes: vec![0; STACK],
                    writable: true,
                    live: true,
                },
                Region {
                    bytes: vec![0; SKB_SIZE],
                    writable: false,
                    live: true,
                },
            ],
            maps: maps
                .iter()
                .map(|&def| Map {
                    def,
                    entries: BTreeMap::new(),
                })
                .collect(),
            packet: Vec::new(),
            events: Vec::new(),
            budget: BUDGET,
            ktime: 1_000_000_000,
            prandom: 0x2545_f491_4f6c_dd1d,
        }
    }

    /// Sets the context bytes R1 points to.
    pub fn set_context(&mut self, ctx: Vec<u8>) {
        self.regions[1].bytes = ctx;
    }

    /// Sets the packet `LD_ABS`, `LD_IND` and `bpf_skb_load_bytes` read (from the network
    /// header's link-layer start, as `skb->data` is in a socket filter).
    pub fn set_packet(&mut self, packet: Vec<u8>) {
        self.packet = packet;
    }

    /// A socket filter's `struct __sk_buff` for `packet`: `len` and `protocol` (network
    /// order, as the kernel keeps `skb->protocol`) set, the rest 0 (include/uapi/linux/bpf.h).
    pub fn skb_context(len: u32, protocol: u16) -> Vec<u8> {
        let mut ctx = vec![0u8; SKB_SIZE];
        ctx[0..4].copy_from_slice(&len.to_le_bytes());
        ctx[16..20].copy_from_slice(&u32::from(protocol.to_be()).to_le_bytes());
        ctx
    }

    pub(super) fn packet(&self) -> &[u8] {
        &self.packet
    }

    pub(super) fn reset_stack(&mut self, fill: u8) {
        self.regions[0].bytes.fill(fill);
    }

    pub(super) fn ctx_ptr(&self) -> u64 {
        addr(1, 0)
    }

    pub(super) fn stack_top(&self) -> u64 {
        addr(0, STACK as u64)
    }

    pub(super) fn check_ctx(&self, p: u64) -> Result<(), FaultKind> {
        if p == self.ctx_ptr() {
            Ok(())
        } else {
            Err(FaultKind::Unsupported(format!(
                "legacy packet load with R6 = {p:#x}, not the context"
            )))
        }
    }

    pub(super) fn map_ptr(&self, map: u32) -> Result<u64, FaultKind> {
        if (map as usize) < self.maps.len() {
            Ok(MAP_TAG + u64::from(map))
        } else {
            Err(FaultKind::BadMap(MAP_TAG + u64::from(map)))
        }
    }

    fn map_of(&self, p: u64) -> Result<usize, FaultKind> {
        match p.checked_sub(MAP_TAG) {
            Some(i) if (i as usize) < self.maps.len() => Ok(i as usize),
            _ => Err(FaultKind::BadMap(p)),
        }
    }

    /// The region and offset of an `n`-byte access at `a`.
    fn locate(&self, a: u64, n: u64) -> Result<(usize, usize), FaultKind> {
        let oob = FaultKind::OutOfBounds { addr: a, size: n };
        let hi = a >> 32;
        let off = a & 0xffff_ffff;
        if hi == 0 || hi > self.regions.len() as u64 {
            return Err(oob);
        }
        let r = &self.regions[hi as usize - 1];
        if !r.live || off + n > r.bytes.len() as u64 {
            return Err(oob);
        }
        Ok((hi as usize - 1, off as usize))
    }

    /// Reads `n` bytes at `a`.
    pub fn read(&self, a: u64, n: u64) -> Result<&[u8], FaultKind> {
        let (r, off) = self.locate(a, n)?;
        Ok(&self.regions[r].bytes[off..off + n as usize])
    }

    fn write(&mut self, a: u64, bytes: &[u8]) -> Result<(), FaultKind> {
        let (r, off) = self.locate(a, bytes.len() as u64)?;
        let region = &mut self.regions[r];
        if !region.writable {
            return Err(FaultKind::ReadOnly(a));
        }
        region.bytes[off..off + bytes.len()].copy_from_slice(bytes);
        Ok(())
    }

    /// A little-endian load of `n` (1, 2, 4, 8) bytes, zero-extended.
    pub(super) fn load(&self, a: u64, n: u32) -> Result<u64, FaultKind> {
        let b = self.read(a, u64::from(n))?;
        let mut v = [0u8; 8];
        v[..b.len()].copy_from_slice(b);
        Ok(u64::from_le_bytes(v))
    }

    /// A little-endian store of the low `n` bytes of `v`.
    pub(super) fn store(&mut self, a: u64, n: u32, v: u64) -> Result<(), FaultKind> {
        self.write(a, &v.to_le_bytes()[..n as usize])
    }

    fn new_region(&mut self, bytes: Vec<u8>) -> usize {
        self.regions.push(Region {
            bytes,
            writable: true,
            live: true,
        });
        self.regions.len() - 1
    }

    /// The value region of `key` in map `m`; arrays have every index from the start, zeroed
    /// (the kernel preallocates them), so it is made on first use.
    fn entry(&mut self, m: usize, key: &[u8]) -> Option<usize> {
        if let Some(&r) = self.maps[m].entries.get(key) {
            return Some(r);
        }
        let def = self.maps[m].def;
        match def.kind.keys() {
            Keys::Index => {
                let i = u32::from_le_bytes(key.try_into().ok()?);
                if i >= def.max_entries {
                    return None;
                }
                let r = self.new_region(vec![0; def.value_size as usize]);
                self.maps[m].entries.insert(key.to_vec(), r);
                Some(r)
            }
            Keys::Any | Keys::None => None,
        }
    }

    fn check_elements(&self, m: usize) -> Result<MapDef, FaultKind> {
        let def = self.maps[m].def;
        if def.kind.has_elements() {
            Ok(def)
        } else {
            Err(FaultKind::Unsupported(format!(
                "element access to a {} map",
                def.kind
            )))
        }
    }

    /// The value of `key` in map `map`, if it has one (for tests reading maps after a run).
    pub fn map_get(&mut self, map: usize, key: &[u8]) -> Option<Vec<u8>> {
        let r = self.entry(map, key)?;
        Some(self.regions[r].bytes.clone())
    }

    /// Every entry of map `map` that exists, in key order (array entries only once touched;
    /// untouched ones are zero).
    pub fn map_entries(&self, map: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.maps[map]
            .entries
            .iter()
            .map(|(k, &r)| (k.clone(), self.regions[r].bytes.clone()))
            .collect()
    }

    /// Sets `key` of map `map` to `value` (as user space's `bpf_map_update_elem` would); false
    /// when the map has no room for it or the sizes are wrong.
    pub fn map_set(&mut self, map: usize, key: &[u8], value: &[u8]) -> bool {
        self.update(map, key, value, 0) == 0
    }

    fn update(&mut self, m: usize, key: &[u8], value: &[u8], flags: u64) -> i64 {
        let def = self.maps[m].def;
        if key.len() != def.key_size as usize || value.len() != def.value_size as usize {
            return EINVAL;
        }
        // BPF_ANY = 0, BPF_NOEXIST = 1, BPF_EXIST = 2 (include/uapi/linux/bpf.h).
        let existing = match def.kind.keys() {
            Keys::Index => self.entry(m, key),
            Keys::Any | Keys::None => self.maps[m].entries.get(key).copied(),
        };
        match (existing, flags) {
            (_, f) if f > 2 => EINVAL,
            (Some(_), 1) if def.kind.keys() == Keys::Index => EEXIST,
            (Some(_), 1) => EEXIST,
            (None, 2) => ENOENT,
            (Some(r), _) => {
                self.regions[r].bytes.copy_from_slice(value);
                0
            }
            (None, _) if def.kind.keys() == Keys::Index => E2BIG,
            (None, _) => {
                if self.maps[m].entries.len() >= def.max_entries as usize {
                    return E2BIG;
                }
                let r = self.new_region(value.to_vec());
                self.maps[m].entries.insert(key.to_vec(), r);
                0
            }
        }
    }

    /// Copies `n` bytes from `src` to `dst` (`bpf_probe_read*`): on a fault in the source the
    /// kernel zeroes the destination and returns `-EFAULT`; the destination must be valid.
    fn probe_read(&mut self, dst: u64, n: u64, src: u64, string: bool) -> Result<i64, FaultKind> {
        self.read(dst, n)?;
        let Ok(bytes) = self.read(src, n).map(<[u8]>::to_vec).or_else(|e| {
            // A string read may stop at a NUL before the region ends.
            if !string {
                return Err(e);
            }
            let (r, off) = self.locate(src, 1)?;
            Ok(self.regions[r].bytes[off..].to_vec())
        }) else {
            self.write(dst, &vec![0; n as usize])?;
            return Ok(EFAULT);
        };
        if !string {
            self.write(dst, &bytes)?;
            return Ok(0);
        }
        // `*_str`: copies up to and including the NUL, at most n bytes, always NUL-terminated;
        // returns the length with the NUL (bpf-helpers(7)).
        if n == 0 {
            return Ok(0);
        }
        let len = bytes
            .iter()
            .take(n as usize - 1)
            .position(|b| *b == 0)
            .unwrap_or((n as usize - 1).min(bytes.len()));
        let mut out = bytes[..len].to_vec();
        out.push(0);
        self.write(dst, &out)?;
        Ok(out.len() as i64)
    }

    /// Runs a helper on its arguments (R1–R5); its result for R0.
    pub(super) fn call(&mut self, helper: Helper, a: [u64; 5]) -> Result<u64, FaultKind> {
        let r: i64 = match helper {
            Helper::MapLookupElem => {
                let m = self.map_of(a[0])?;
                let def = self.check_elements(m)?;
                let key = self.read(a[1], u64::from(def.key_size))?.to_vec();
                return Ok(self.entry(m, &key).map_or(0, |r| addr(r, 0)));
            }
            Helper::MapUpdateElem => {
                let m = self.map_of(a[0])?;
                let def = self.check_elements(m)?;
                let key = self.read(a[1], u64::from(def.key_size))?.to_vec();
                let value = self.read(a[2], u64::from(def.value_size))?.to_vec();
                self.update(m, &key, &value, a[3])
            }
            Helper::MapDeleteElem => {
                let m = self.map_of(a[0])?;
                let def = self.check_elements(m)?;
                let key = self.read(a[1], u64::from(def.key_size))?.to_vec();
                if !def.kind.can_delete() {
                    EINVAL
                } else if let Some(r) = self.maps[m].entries.remove(&key) {
                    // A pointer into a deleted element faults from now on.
                    self.regions[r].live = false;
                    0
                } else {
                    ENOENT
                }
            }
            Helper::ProbeRead | Helper::ProbeReadUser | Helper::ProbeReadKernel => {
                self.probe_read(a[0], a[1] & 0xffff_ffff, a[2], false)?
            }
            Helper::ProbeReadUserStr | Helper::ProbeReadKernelStr => {
                self.probe_read(a[0], a[1] & 0xffff_ffff, a[2], true)?
            }
            Helper::KtimeGetNs => {
                self.ktime += 1_000;
                self.ktime as i64
            }
            Helper::GetPrandomU32 => {
                // xorshift64*: a fixed sequence.
                let mut x = self.prandom;
                x ^= x >> 12;
                x ^= x << 25;
                x ^= x >> 27;
                self.prandom = x;
                return Ok(u64::from(
                    (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as u32,
                ));
            }
            Helper::GetSmpProcessorId => 0,
            Helper::GetCurrentPidTgid => PID_TGID as i64,
            Helper::GetCurrentUidGid => UID_GID as i64,
            Helper::GetCurrentComm => {
                let n = (a[1] & 0xffff_ffff) as usize;
                let mut buf = vec![0u8; n];
                let k = COMM.len().min(n.saturating_sub(1));
                buf[..k].copy_from_slice(&COMM[..k]);
                self.write(a[0], &buf)?;
                0
            }
            Helper::TracePrintk => {
                let fmt = self.read(a[0], a[1] & 0xffff_ffff)?.to_vec();
                self.events.push(Event::Printk {
                    fmt,
                    args: [a[2], a[3], a[4]],
                });
                0
            }
            Helper::PerfEventOutput => {
                self.check_ctx(a[0])?;
                let m = self.map_of(a[1])?;
                let data = self.read(a[3], a[4] & 0xffff_ffff)?.to_vec();
                self.output(m, MapKind::PerfEventArray, a[2], data)?
            }
            Helper::RingbufOutput => {
                let m = self.map_of(a[0])?;
                let data = self.read(a[1], a[2] & 0xffff_ffff)?.to_vec();
                self.output(m, MapKind::Ringbuf, a[3], data)?
            }
            Helper::SkbLoadBytes => {
                self.check_ctx(a[0])?;
                let (off, n) = (a[1] as u32 as i32, (a[3] & 0xffff_ffff) as usize);
                self.read(a[2], n as u64)?;
                let bytes = usize::try_from(off)
                    .ok()
                    .and_then(|o| self.packet.get(o..o.checked_add(n)?))
                    .map(<[u8]>::to_vec);
                match bytes {
                    Some(b) => {
                        self.write(a[2], &b)?;
                        0
                    }
                    None => {
                        // The kernel zeroes the buffer on failure (bpf_skb_load_bytes).
                        self.write(a[2], &vec![0; n])?;
                        EFAULT
                    }
                }
            }
            // Their results depend on the program kind and on devices the interpreter lacks.
            Helper::GetStackid | Helper::Redirect | Helper::RedirectMap => {
                return Err(FaultKind::Unsupported(format!("helper {}", helper.name())))
            }
        };
        Ok(r as u64)
    }

    fn output(
        &mut self,
        m: usize,
        kind: MapKind,
        flags: u64,
        data: Vec<u8>,
    ) -> Result<i64, FaultKind> {
        if self.maps[m].def.kind != kind {
            return Err(FaultKind::BadMap(MAP_TAG + m as u64));
        }
        self.events.push(Event::Output {
            map: m,
            flags,
            data,
        });
        Ok(0)
    }
}

/// The address of byte `off` of region `r`.
fn addr(r: usize, off: u64) -> u64 {
    ((r as u64 + 1) << 32) + off
}
