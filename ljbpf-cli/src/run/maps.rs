//! Reading any map's entries as bytes, whatever its key and value types: the CLI knows them
//! only at run time (from the compiled probe), so aya's typed maps, which fix them at compile
//! time, do not fit. Two `bpf()` commands do: `BPF_MAP_GET_NEXT_KEY` and `BPF_MAP_LOOKUP_ELEM`.

use std::io;
use std::os::fd::{AsFd as _, AsRawFd as _, RawFd};

use ljbpf_runtime::aya::maps::{Map, MapData};

/// `enum bpf_cmd` (include/uapi/linux/bpf.h).
const BPF_MAP_LOOKUP_ELEM: libc::c_long = 1;
const BPF_MAP_GET_NEXT_KEY: libc::c_long = 4;

/// The `map_elem` member of `union bpf_attr` (include/uapi/linux/bpf.h): the fd, then 64-bit
/// pointers to the key and to the value (or, for `GET_NEXT_KEY`, the next key), then flags.
#[repr(C)]
struct MapElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

fn bpf_map_cmd(cmd: libc::c_long, fd: RawFd, key: *const u8, value: *mut u8) -> io::Result<()> {
    let attr = MapElemAttr {
        map_fd: fd as u32,
        _pad: 0,
        key: key as u64,
        value: value as u64,
        flags: 0,
    };
    // SAFETY: `attr` is a valid `bpf_attr` prefix of the size given; `key` (or null, for the
    // first key) and `value` point to buffers of the map's key and value sizes, which the
    // caller sized from the map's declaration.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            std::ptr::from_ref(&attr),
            std::mem::size_of::<MapElemAttr>(),
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// The kernel object behind an aya map, for the raw commands below.
pub fn data(map: &Map) -> Option<&MapData> {
    match map {
        Map::HashMap(d)
        | Map::LruHashMap(d)
        | Map::PerCpuHashMap(d)
        | Map::PerCpuLruHashMap(d)
        | Map::Array(d)
        | Map::PerCpuArray(d)
        | Map::LpmTrie(d)
        | Map::StackTraceMap(d) => Some(d),
        _ => None,
    }
}

/// Every entry of `map` as `(key bytes, value bytes)`, in the kernel's iteration order.
///
/// `value_size` is what one lookup writes: for per-CPU maps, the value rounded up to 8 bytes
/// times the number of possible CPUs (kernel/bpf/syscall.c, `bpf_map_value_size`). An entry
/// deleted between listing its key and reading it is skipped.
pub fn entries(
    map: &MapData,
    key_size: usize,
    value_size: usize,
) -> io::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let fd = map.fd().as_fd().as_raw_fd();
    let mut out = Vec::new();
    let mut key: Option<Vec<u8>> = None;
    // A map never holds more keys than this; the bound also ends a walk that a concurrent
    // delete sent back to the first key.
    for _ in 0..=(1usize << 24) {
        let mut next = vec![0u8; key_size.max(1)];
        let from = key.as_ref().map_or(std::ptr::null(), |k| k.as_ptr());
        match bpf_map_cmd(BPF_MAP_GET_NEXT_KEY, fd, from, next.as_mut_ptr()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => break,
            Err(e) => return Err(e),
        }
        let mut value = vec![0u8; value_size.max(1)];
        match bpf_map_cmd(BPF_MAP_LOOKUP_ELEM, fd, next.as_ptr(), value.as_mut_ptr()) {
            Ok(()) => out.push((next.clone(), value)),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(e),
        }
        key = Some(next);
    }
    Ok(out)
}

/// The number of possible CPUs: how many values a per-CPU lookup returns.
pub fn possible_cpus() -> io::Result<usize> {
    ljbpf_runtime::aya::util::nr_cpus().map_err(|(_, e)| e)
}
