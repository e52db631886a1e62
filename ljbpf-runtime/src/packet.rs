//! The `AF_PACKET` sockets socket filters run on: one raw socket per attached filter, bound to
//! an interface by name (packet(7)).

use std::io;
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};

/// `ETH_P_ALL` (include/uapi/linux/if_ether.h): receive every protocol.
const ETH_P_ALL: u16 = 0x0003;
/// `PACKET_IGNORE_OUTGOING` (include/uapi/linux/if_packet.h, Linux 4.20); not in the libc crate.
const PACKET_IGNORE_OUTGOING: libc::c_int = 23;
/// `IFF_LOOPBACK` (include/uapi/linux/if.h).
const IFF_LOOPBACK: u32 = 0x8;

/// Which packets of an interface a socket filter attached with
/// [`Probe::attach_iface`](crate::Probe::attach_iface) runs on.
///
/// On a loopback interface every packet passes the packet taps twice, once leaving
/// (`PACKET_OUTGOING`) and once arriving (`PACKET_HOST`); that is why tcpdump's libpcap drops
/// the outgoing copy on `lo`. [`IncomingOnly`](Self::IncomingOnly) asks the kernel not to run
/// the filter on outgoing packets at all (`PACKET_IGNORE_OUTGOING`, Linux 4.20).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SocketDirection {
    /// Packets sent and received (both copies of a loopback packet).
    Both,
    /// Received packets only (on loopback: each packet once).
    IncomingOnly,
    /// [`IncomingOnly`](Self::IncomingOnly) on a loopback interface, so each packet is seen
    /// once; [`Both`](Self::Both) on any other.
    #[default]
    OncePerPacket,
}

impl SocketDirection {
    /// Whether a socket on `iface` must ignore outgoing packets.
    fn ignores_outgoing(self, iface: &str) -> bool {
        match self {
            SocketDirection::Both => false,
            SocketDirection::IncomingOnly => true,
            SocketDirection::OncePerPacket => is_loopback(iface),
        }
    }
}

/// A raw packet socket that receives nothing yet: protocol 0, so no packet is queued before the
/// filter is attached and the socket bound (packet(7)).
pub(crate) fn unbound_socket(iface: &str, direction: SocketDirection) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall; the returned fd is checked and then owned.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh, valid fd that nothing else owns.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    if direction.ignores_outgoing(iface) {
        set_int_option(&socket, libc::SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)?;
    }
    Ok(socket)
}

/// Binds `socket` to every protocol on `iface`; packets flow from here on.
pub(crate) fn bind(socket: &OwnedFd, iface: &str) -> io::Result<()> {
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

/// The index of interface `iface` (`if_nametoindex(3)`).
pub(crate) fn ifindex(iface: &str) -> io::Result<u32> {
    let c_iface = std::ffi::CString::new(iface)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface name contains NUL"))?;
    // SAFETY: `c_iface` is a valid NUL-terminated string.
    let ifindex = unsafe { libc::if_nametoindex(c_iface.as_ptr()) };
    if ifindex == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(ifindex)
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
