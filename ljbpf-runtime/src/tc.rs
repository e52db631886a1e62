//! `clsact` qdiscs for tc programs attached as netlink filters: aya 0.14 adds them
//! ([`aya::programs::tc::qdisc_add_clsact`]) but cannot delete one, so a probe that created a
//! qdisc removes it here (`RTM_DELQDISC` over rtnetlink, as `tc qdisc del dev IFACE clsact`
//! does; message layout from include/uapi/linux/rtnetlink.h and pkt_sched.h).

use std::io;
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};

use aya::programs::tc::{qdisc_add_clsact, TcError};

/// `TC_H_CLSACT` (include/uapi/linux/pkt_sched.h): the clsact qdisc's parent and major handle.
const TC_H_CLSACT: u32 = 0xffff_fff1;
/// `TCA_KIND` (include/uapi/linux/rtnetlink.h).
const TCA_KIND: u16 = 1;

/// Adds a `clsact` qdisc to `iface`; `Ok(true)` when this call created it, `Ok(false)` when
/// the interface had one already (someone else's: leave it there).
pub(crate) fn add_clsact(iface: &str) -> Result<bool, TcError> {
    match qdisc_add_clsact(iface) {
        Ok(()) => Ok(true),
        Err(TcError::NetlinkError(e)) if e.raw_os_error() == Some(libc::EEXIST) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Deletes the `clsact` qdisc of interface `ifindex` (and with it every filter on it).
pub(crate) fn del_clsact(ifindex: u32) -> io::Result<()> {
    // SAFETY: plain syscall; the returned fd is checked and then owned.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh, valid fd that nothing else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    // nlmsghdr (16) + tcmsg (20) + rtattr TCA_KIND "clsact\0" (4 + 7, padded to 12).
    let mut msg = Vec::with_capacity(48);
    let len: u32 = 16 + 20 + 12;
    msg.extend_from_slice(&len.to_ne_bytes());
    msg.extend_from_slice(&libc::RTM_DELQDISC.to_ne_bytes());
    msg.extend_from_slice(&((libc::NLM_F_REQUEST | libc::NLM_F_ACK) as u16).to_ne_bytes());
    msg.extend_from_slice(&1u32.to_ne_bytes()); // sequence number
    msg.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills it in
    msg.extend_from_slice(&[libc::AF_UNSPEC as u8, 0, 0, 0]); // tcm_family, padding
    msg.extend_from_slice(&(ifindex as i32).to_ne_bytes());
    msg.extend_from_slice(&(TC_H_CLSACT & 0xffff_0000).to_ne_bytes()); // tcm_handle
    msg.extend_from_slice(&TC_H_CLSACT.to_ne_bytes()); // tcm_parent
    msg.extend_from_slice(&0u32.to_ne_bytes()); // tcm_info
    msg.extend_from_slice(&11u16.to_ne_bytes());
    msg.extend_from_slice(&TCA_KIND.to_ne_bytes());
    msg.extend_from_slice(b"clsact\0\0");
    // SAFETY: `msg` is a valid buffer of its length.
    let sent = unsafe { libc::send(sock.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    // The acknowledgement: an NLMSG_ERROR message whose error is 0 on success.
    let mut buf = [0u8; 1024];
    // SAFETY: `buf` is a valid, writable buffer of its length.
    let n = unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let n = n as usize;
    if n >= 20 && u16::from_ne_bytes([buf[4], buf[5]]) == libc::NLMSG_ERROR as u16 {
        let errno = i32::from_ne_bytes([buf[16], buf[17], buf[18], buf[19]]);
        if errno != 0 {
            return Err(io::Error::from_raw_os_error(-errno));
        }
    }
    Ok(())
}
