//! Attaching a socket filter to a network interface chosen at run time.
//!
//! A probe declared with `bpf.socket(fn)` (no interface) has no target of its own; these
//! helpers open the `AF_PACKET` socket the filter runs on, bound to the interface the user
//! names (`--iface`), like the reference's `bpf.socket('lo', fn)` did for a fixed name.

use std::error::Error;
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

/// `PACKET_IGNORE_OUTGOING` from `<linux/if_packet.h>` (Linux ≥ 4.20); not in the libc crate.
const PACKET_IGNORE_OUTGOING: libc::c_int = 23;
/// `IFF_LOOPBACK` from `<linux/if.h>`.
const IFF_LOOPBACK: u32 = 0x8;
/// `ETH_P_ALL` from `<linux/if_ether.h>`: every protocol.
const ETH_P_ALL: u16 = 0x0003;

/// Runs socket filter `program` of `probe` on every packet of interface `iface`, until the
/// returned socket is closed.
///
/// On a loopback interface every packet passes the packet taps twice, once leaving
/// (`PACKET_OUTGOING`) and once arriving (`PACKET_HOST`), which is why tcpdump's libpcap drops
/// outgoing packets on `lo`. We ask the kernel not to run the filter on the outgoing copy
/// (`PACKET_IGNORE_OUTGOING`, packet(7)), so each packet is seen once; on other interfaces
/// both directions are kept.
pub fn attach_to_iface(
    probe: &mut ljbpf_runtime::Probe,
    program: &str,
    iface: &str,
) -> Result<OwnedFd, Box<dyn Error>> {
    let context = |what: &str, e: io::Error| format!("{what} on interface {iface:?}: {e}");
    let ifindex = ifindex(iface).map_err(|e| context("looking up", e))?;
    // Protocol 0: nothing is received until the filter is attached and the socket bound.
    // SAFETY: plain syscall; the returned fd is checked and then owned.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(context("opening a packet socket", io::Error::last_os_error()).into());
    }
    // SAFETY: `fd` is a fresh, valid fd that nothing else owns.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    if is_loopback(iface) {
        set_int_option(&socket, libc::SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
            .map_err(|e| context("setting PACKET_IGNORE_OUTGOING", e))?;
    }
    probe.attach_socket(program, socket.as_fd())?;
    // SAFETY: sockaddr_ll is plain old data; all-zero is valid.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = ETH_P_ALL.to_be();
    addr.sll_ifindex = ifindex;
    // SAFETY: `addr` is a valid sockaddr_ll and the length matches it.
    let ret = unsafe {
        libc::bind(
            socket.as_raw_fd(),
            std::ptr::from_ref(&addr).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if ret != 0 {
        return Err(context("binding the packet socket", io::Error::last_os_error()).into());
    }
    Ok(socket)
}

fn ifindex(iface: &str) -> io::Result<i32> {
    let c_iface = std::ffi::CString::new(iface)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "name contains NUL"))?;
    // SAFETY: `c_iface` is a valid NUL-terminated string.
    let index = unsafe { libc::if_nametoindex(c_iface.as_ptr()) };
    if index == 0 {
        return Err(io::Error::last_os_error());
    }
    i32::try_from(index).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "index too large"))
}

/// Whether `iface` has `IFF_LOOPBACK` set (`/sys/class/net/<iface>/flags`, e.g. `0x9`).
fn is_loopback(iface: &str) -> bool {
    std::fs::read_to_string(format!("/sys/class/net/{iface}/flags"))
        .ok()
        .and_then(|s| u32::from_str_radix(s.trim().trim_start_matches("0x"), 16).ok())
        .is_some_and(|flags| flags & IFF_LOOPBACK != 0)
}

fn set_int_option(
    socket: &OwnedFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `value` outlives the call and the length matches its type.
    let ret = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            std::ptr::from_ref(&value).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if ret != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
