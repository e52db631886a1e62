//! Event readers that wait on tokio's reactor (feature `tokio`): [`AsyncReader`] wraps a
//! [`PerfReader`] or a [`RingBufReader`] and waits for records with `.await` instead of
//! blocking in `poll(2)`.
//!
//! The reader's fds (one per CPU for a perf buffer) are gathered in one epoll fd, which is
//! readable when any of them is; tokio watches that one fd.

use std::io;
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd, RawFd};

use aya::Pod;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use crate::{Error, Events, PerfReader, ReadCount, RingBufReader};

/// A reader [`AsyncReader`] can wait on: its fds, and a drain that does not block.
pub trait EventSource {
    /// The decoded event type.
    type Event;
    /// The map's name, for errors.
    fn map_name(&self) -> &str;
    /// The fds that become readable when records arrive.
    fn fds(&self) -> Vec<RawFd>;
    /// Reads every available record without blocking.
    fn drain(&mut self, out: &mut Vec<Self::Event>) -> Result<ReadCount, Error>;
}

impl<T: Pod> EventSource for PerfReader<T> {
    type Event = T;
    fn map_name(&self) -> &str {
        self.name()
    }
    fn fds(&self) -> Vec<RawFd> {
        self.raw_fds()
    }
    fn drain(&mut self, out: &mut Vec<T>) -> Result<ReadCount, Error> {
        self.read_events(out)
    }
}

impl<T: Pod> EventSource for RingBufReader<T> {
    type Event = T;
    fn map_name(&self) -> &str {
        self.name()
    }
    fn fds(&self) -> Vec<RawFd> {
        self.raw_fds()
    }
    fn drain(&mut self, out: &mut Vec<T>) -> Result<ReadCount, Error> {
        self.read_events(out)
    }
}

/// A [`PerfReader`] or [`RingBufReader`] whose [`read`](Self::read) waits with `.await`.
///
/// ```no_run
/// # async fn f(probe: &mut ljbpf_runtime::Probe) -> Result<(), ljbpf_runtime::Error> {
/// # #[derive(Clone, Copy)] #[repr(C)] struct Event { pid: u32, n: u32 }
/// # unsafe impl ljbpf_runtime::aya::Pod for Event {}
/// let reader = ljbpf_runtime::PerfReader::<Event>::new(probe, "events")?;
/// let mut events = ljbpf_runtime::AsyncReader::new(reader)?;
/// loop {
///     for event in events.read().await?.events { /* ... */ }
/// }
/// # }
/// ```
pub struct AsyncReader<R: EventSource> {
    // The epoll fd before the reader: it is deregistered from tokio before the reader's fds
    // close.
    ready: AsyncFd<OwnedFd>,
    reader: R,
}

impl<R: EventSource> std::fmt::Debug for AsyncReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncReader")
            .field("map", &self.reader.map_name())
            .finish_non_exhaustive()
    }
}

impl<R: EventSource> AsyncReader<R> {
    /// Registers `reader`'s fds with the tokio runtime this is called in. Outside a runtime
    /// (or in one without IO enabled) it is [`Error::Poll`].
    pub fn new(reader: R) -> Result<Self, Error> {
        let poll_error = |source| Error::Poll {
            map: reader.map_name().to_string(),
            source,
        };
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(poll_error(io::Error::other(
                "AsyncReader::new must be called within a tokio runtime",
            )));
        }
        let epoll = epoll_of(&reader.fds()).map_err(poll_error)?;
        // SAFETY: an OwnedFd's raw fd stays open and the same until the AsyncFd drops it.
        let ready = unsafe { AsyncFd::register_with_interest(epoll, Interest::READABLE) }
            .map_err(|e| poll_error(e.into()))?;
        Ok(Self { ready, reader })
    }

    /// Waits until records arrive (or the kernel reports lost ones), then reads all that are
    /// there. Never returns an empty [`Events`] with nothing lost.
    pub async fn read(&mut self) -> Result<Events<R::Event>, Error> {
        loop {
            let mut guard = self.ready.readable().await.map_err(|source| Error::Poll {
                map: self.reader.map_name().to_string(),
                source,
            })?;
            let mut events = Vec::new();
            let count = self.reader.drain(&mut events)?;
            if count.read > 0 || count.lost > 0 {
                return Ok(Events {
                    events,
                    lost: count.lost,
                });
            }
            // Drained: wait for the next wake-up.
            guard.clear_ready();
        }
    }

    /// The blocking reader inside.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.reader
    }

    /// The blocking reader back.
    pub fn into_inner(self) -> R {
        self.reader
    }
}

/// An epoll fd that is readable while any of `fds` is (level-triggered).
fn epoll_of(fds: &[RawFd]) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall; the returned fd is checked and then owned.
    let epfd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if epfd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `epfd` is a fresh, valid fd that nothing else owns.
    let epoll = unsafe { OwnedFd::from_raw_fd(epfd) };
    for &fd in fds {
        let mut event = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: fd as u64,
        };
        // SAFETY: `event` is a valid epoll_event; `fd` is open (the reader owns it).
        if unsafe { libc::epoll_ctl(epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut event) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(epoll)
}
