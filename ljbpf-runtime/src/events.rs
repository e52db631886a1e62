//! Typed event readers: a perf event array read on every online CPU ([`PerfReader`]) and a BPF
//! ring buffer ([`RingBufReader`]).
//!
//! Both take their map out of the [`Probe`] (so they own it and can outlive borrows of the
//! probe; the programs keep writing to it because the kernel holds its own reference), decode
//! each record into a [`Pod`] type `T` (the `#[repr(C)]` struct the bindings generate for the
//! event's ctype) with an unaligned copy, and block with `poll(2)` on their fds.

use std::marker::PhantomData;
use std::mem::{size_of, MaybeUninit};
use std::ops::ControlFlow;
use std::os::fd::{AsRawFd as _, RawFd};
use std::time::{Duration, Instant};
use std::{io, ptr};

use aya::maps::perf::{PerfEvent, PerfEventArrayBuffer};
use aya::maps::{Map, MapData, PerfEventArray, RingBuf};
use aya::Pod;

use crate::{Error, Probe};

/// Pages per CPU buffer [`PerfReader::new`] maps (a power of two): 64 × 4 KiB = 256 KiB per
/// CPU, bcc's default (`page_cnt=64` in `open_perf_buffer`).
pub const DEFAULT_PERF_PAGES: usize = 64;

/// What one [`PerfReader::poll`] or [`RingBufReader::poll`] returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Events<T> {
    /// Decoded events, in the order read (per CPU buffer, CPUs in ascending order for a perf
    /// reader; so not globally time-ordered).
    pub events: Vec<T>,
    /// Events the kernel dropped because a buffer was full, reported during this call.
    /// Always 0 for a ring buffer (see [`RingBufReader`]).
    pub lost: u64,
}

/// What one non-blocking drain ([`PerfReader::read_events`], [`RingBufReader::read_events`])
/// did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadCount {
    /// Events decoded and appended to the caller's vector.
    pub read: usize,
    /// Events the kernel reported lost during this drain (always 0 for a ring buffer).
    pub lost: u64,
}

/// Copies a record (possibly split in two by the ring's wrap-around) into a `T`.
///
/// Records may be longer than `T`: perf samples are padded to 8 bytes, and a program may append
/// data after the struct; the excess is ignored. Shorter records are [`Error::EventSize`].
fn decode<T: Pod>(map: &str, head: &[u8], tail: &[u8]) -> Result<T, Error> {
    let size = size_of::<T>();
    let got = head.len() + tail.len();
    if got < size {
        return Err(Error::EventSize {
            map: map.to_string(),
            expected: size,
            got,
        });
    }
    let mut value = MaybeUninit::<T>::uninit();
    let dst = value.as_mut_ptr().cast::<u8>();
    let from_head = head.len().min(size);
    // SAFETY: `dst` points to `size` writable bytes; we write `from_head` bytes from `head`
    // and then `size - from_head` bytes from `tail` (which holds at least that many, as
    // `head.len() + tail.len() >= size`). The regions do not overlap kernel-mapped memory
    // being written: the reader owns the records until it advances the tail.
    unsafe {
        ptr::copy_nonoverlapping(head.as_ptr(), dst, from_head);
        ptr::copy_nonoverlapping(tail.as_ptr(), dst.add(from_head), size - from_head);
    }
    // SAFETY: every byte of `value` was written, and `T: Pod` is valid for any bit pattern.
    Ok(unsafe { value.assume_init() })
}

/// Waits with `poll(2)` until one of `fds` is readable or `timeout` passes (`None`: forever).
/// Returns whether any fd is readable. `EINTR` restarts the wait with the remaining time.
fn wait_readable(map: &str, fds: &[RawFd], timeout: Option<Duration>) -> Result<bool, Error> {
    let mut pollfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        let millis = match deadline {
            None => -1,
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                // Round up so a sub-millisecond remainder still waits.
                i32::try_from(left.as_micros().div_ceil(1000)).unwrap_or(i32::MAX)
            }
        };
        // SAFETY: `pollfds` is a valid array of `pollfds.len()` pollfd structs.
        let n = unsafe { libc::poll(pollfds.as_mut_ptr(), pollfds.len() as libc::nfds_t, millis) };
        if n >= 0 {
            return Ok(n > 0);
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(Error::Poll {
                map: map.to_string(),
                source: error,
            });
        }
    }
}

fn take_map(probe: &mut Probe, map: &str) -> Result<Map, Error> {
    probe.take_map(map)
}

/// Reads typed events from a `perf_event_array` map on **all** online CPUs.
///
/// `bpf_perf_event_output(ctx, map, BPF_F_CURRENT_CPU, &data, size)` writes into the perf
/// buffer of the CPU the program runs on; the reader opens one buffer per online CPU (read
/// from `/sys/devices/system/cpu/online` when it is created), so no event is missed whatever
/// CPU it came from. Each sample is decoded into `T` (see [`Events`]); records the kernel had to
/// drop because a buffer was full are counted in [`Events::lost`] and [`lost`](Self::lost).
///
/// ```no_run
/// # fn f(probe: &mut ljbpf_runtime::Probe) -> Result<(), ljbpf_runtime::Error> {
/// # #[derive(Clone, Copy)] #[repr(C)] struct Event { pid: u32, n: u32 }
/// # unsafe impl ljbpf_runtime::aya::Pod for Event {}
/// use std::time::Duration;
/// let mut events = ljbpf_runtime::PerfReader::<Event>::new(probe, "events")?;
/// loop {
///     let batch = events.poll(Some(Duration::from_millis(100)))?;
///     for event in &batch.events { /* ... */ }
/// }
/// # }
/// ```
pub struct PerfReader<T: Pod> {
    map: String,
    // Buffers before the array: each buffer keeps the map alive through an `Arc` anyway.
    buffers: Vec<(u32, PerfEventArrayBuffer<MapData>)>,
    _array: PerfEventArray<MapData>,
    lost: u64,
    _event: PhantomData<fn() -> T>,
}

impl<T: Pod> std::fmt::Debug for PerfReader<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PerfReader")
            .field("map", &self.map)
            .field("cpus", &self.cpus())
            .field("lost", &self.lost)
            .finish_non_exhaustive()
    }
}

impl<T: Pod> PerfReader<T> {
    /// Takes `perf_event_array` map `map` out of `probe` and opens a buffer of
    /// [`DEFAULT_PERF_PAGES`] pages on every online CPU.
    ///
    /// The map can no longer be reached through [`Probe::map`] afterwards; the probe's
    /// programs keep writing to it.
    pub fn new(probe: &mut Probe, map: &str) -> Result<Self, Error> {
        Self::with_pages(probe, map, DEFAULT_PERF_PAGES)
    }

    /// Like [`new`](Self::new) with `pages` pages per CPU buffer (a power of two; more pages
    /// lose fewer events under bursts).
    pub fn with_pages(probe: &mut Probe, map: &str, pages: usize) -> Result<Self, Error> {
        let taken = take_map(probe, map)?;
        Self::from_map(map, taken, pages)
    }

    /// Builds a reader from a map already taken out of a probe (e.g. with
    /// [`Probe::take_map`]); `name` is used in errors.
    pub fn from_map(name: &str, map: Map, pages: usize) -> Result<Self, Error> {
        let mut array =
            PerfEventArray::<MapData>::try_from(map).map_err(|source| Error::MapType {
                map: name.to_string(),
                expected: "PerfEventArray",
                source: Box::new(source),
            })?;
        let cpus = aya::util::online_cpus().map_err(|(path, source)| Error::OnlineCpus {
            path: path.into(),
            source,
        })?;
        let mut buffers = Vec::with_capacity(cpus.len());
        for cpu in cpus {
            let buffer = array
                .open(cpu, Some(pages))
                .map_err(|source| Error::PerfBuffer {
                    map: name.to_string(),
                    cpu,
                    source: Box::new(source),
                })?;
            buffers.push((cpu, buffer));
        }
        Ok(Self {
            map: name.to_string(),
            buffers,
            _array: array,
            lost: 0,
            _event: PhantomData,
        })
    }

    /// The map's name.
    pub fn name(&self) -> &str {
        &self.map
    }

    /// The fds of the per-CPU buffers (readable when a buffer has records).
    pub fn raw_fds(&self) -> Vec<RawFd> {
        self.buffers.iter().map(|(_, b)| b.as_raw_fd()).collect()
    }

    /// The CPUs a buffer was opened on, ascending.
    pub fn cpus(&self) -> Vec<u32> {
        self.buffers.iter().map(|(cpu, _)| *cpu).collect()
    }

    /// Total events the kernel reported lost since the reader was created.
    pub fn lost(&self) -> u64 {
        self.lost
    }

    /// Waits until some CPU's buffer has data or `timeout` passes (`None`: no limit), then
    /// drains every buffer without blocking. An empty result means the timeout passed.
    pub fn poll(&mut self, timeout: Option<Duration>) -> Result<Events<T>, Error> {
        let mut events = Vec::new();
        if !self.buffers.iter().any(|(_, b)| b.readable()) {
            let fds: Vec<RawFd> = self.buffers.iter().map(|(_, b)| b.as_raw_fd()).collect();
            wait_readable(&self.map, &fds, timeout)?;
        }
        let count = self.read_events(&mut events)?;
        Ok(Events {
            events,
            lost: count.lost,
        })
    }

    /// Drains every CPU's buffer without blocking, appending decoded events to `out`.
    ///
    /// A sample shorter than `T` is [`Error::EventSize`]; the events decoded before it stay in
    /// `out`, the bad sample is consumed, and later samples stay in the buffer for the next call.
    pub fn read_events(&mut self, out: &mut Vec<T>) -> Result<ReadCount, Error> {
        let mut count = ReadCount::default();
        let map = self.map.as_str();
        for (_, buffer) in &mut self.buffers {
            let flow = buffer.try_fold((), |(), event| match event {
                PerfEvent::Sample { head, tail } => match decode::<T>(map, head, tail) {
                    Ok(value) => {
                        out.push(value);
                        count.read += 1;
                        ControlFlow::Continue(())
                    }
                    Err(error) => ControlFlow::Break(error),
                },
                PerfEvent::Lost { count: n } => {
                    count.lost += n;
                    ControlFlow::Continue(())
                }
            });
            if let ControlFlow::Break(error) = flow {
                self.lost += count.lost;
                return Err(error);
            }
        }
        self.lost += count.lost;
        Ok(count)
    }
}

/// Reads typed events from a `ringbuf` map (`BPF_MAP_TYPE_RINGBUF`, kernel ≥ 5.8).
///
/// One buffer shared by all CPUs, so events arrive in the order they were committed. There is
/// no lost-event count: when the buffer is full, `bpf_ringbuf_output` fails with `-ENOSPC`
/// inside the program and nothing reaches user space, so [`Events::lost`] and
/// [`ReadCount::lost`] are always 0 (a program that cares must count its failed outputs in a
/// map itself).
pub struct RingBufReader<T: Pod> {
    map: String,
    ring: RingBuf<MapData>,
    _event: PhantomData<fn() -> T>,
}

impl<T: Pod> std::fmt::Debug for RingBufReader<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingBufReader")
            .field("map", &self.map)
            .finish_non_exhaustive()
    }
}

impl<T: Pod> RingBufReader<T> {
    /// Takes `ringbuf` map `map` out of `probe` and maps it for reading.
    ///
    /// The map can no longer be reached through [`Probe::map`] afterwards; the probe's
    /// programs keep writing to it.
    pub fn new(probe: &mut Probe, map: &str) -> Result<Self, Error> {
        let taken = take_map(probe, map)?;
        Self::from_map(map, taken)
    }

    /// Builds a reader from a map already taken out of a probe; `name` is used in errors.
    pub fn from_map(name: &str, map: Map) -> Result<Self, Error> {
        let ring = RingBuf::<MapData>::try_from(map).map_err(|source| Error::MapType {
            map: name.to_string(),
            expected: "RingBuf",
            source: Box::new(source),
        })?;
        Ok(Self {
            map: name.to_string(),
            ring,
            _event: PhantomData,
        })
    }

    /// The map's name.
    pub fn name(&self) -> &str {
        &self.map
    }

    /// The ring buffer's fd (readable when it has records).
    pub fn raw_fds(&self) -> Vec<RawFd> {
        vec![self.ring.as_raw_fd()]
    }

    /// The next committed event, without blocking; `Ok(None)` when the buffer is empty.
    /// A record shorter than `T` is [`Error::EventSize`] (and is consumed).
    #[allow(clippy::should_implement_trait)] // fallible, so not an Iterator
    pub fn next(&mut self) -> Result<Option<T>, Error> {
        match self.ring.next() {
            None => Ok(None),
            Some(item) => decode::<T>(&self.map, &item, &[]).map(Some),
        }
    }

    /// Waits until the buffer has data or `timeout` passes (`None`: no limit), then drains it
    /// without blocking. An empty result means the timeout passed.
    pub fn poll(&mut self, timeout: Option<Duration>) -> Result<Events<T>, Error> {
        let mut events = Vec::new();
        self.read_events(&mut events)?;
        if events.is_empty() {
            wait_readable(&self.map, &[self.ring.as_raw_fd()], timeout)?;
            self.read_events(&mut events)?;
        }
        Ok(Events { events, lost: 0 })
    }

    /// Drains the buffer without blocking, appending decoded events to `out`. On
    /// [`Error::EventSize`] the events decoded before the bad record stay in `out`.
    pub fn read_events(&mut self, out: &mut Vec<T>) -> Result<ReadCount, Error> {
        let mut count = ReadCount::default();
        while let Some(event) = self.next()? {
            out.push(event);
            count.read += 1;
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    #[repr(C)]
    struct Pair {
        a: u32,
        b: u64,
    }
    // SAFETY: plain integers; padding bytes are never read as anything but bytes.
    unsafe impl Pod for Pair {}

    #[test]
    fn decode_joins_wrapped_records_and_checks_size() {
        let mut bytes = vec![0u8; 16];
        bytes[0..4].copy_from_slice(&7u32.to_ne_bytes());
        bytes[8..16].copy_from_slice(&0x1122_3344_5566_7788u64.to_ne_bytes());
        let want = Pair {
            a: 7,
            b: 0x1122_3344_5566_7788,
        };
        for split in 0..=16 {
            let (head, tail) = bytes.split_at(split);
            assert_eq!(decode::<Pair>("m", head, tail).unwrap(), want, "{split}");
        }
        // Padding after the struct is ignored.
        let mut padded = bytes.clone();
        padded.extend_from_slice(&[0xff; 4]);
        assert_eq!(decode::<Pair>("m", &padded, &[]).unwrap(), want);
        let err = decode::<Pair>("m", &bytes[..12], &[]).unwrap_err();
        assert!(
            matches!(
                err,
                Error::EventSize {
                    expected: 16,
                    got: 12,
                    ..
                }
            ),
            "{err:?}"
        );
    }
}
