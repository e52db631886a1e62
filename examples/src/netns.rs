//! A veth pair between this network namespace and a new one, for tests that send real traffic
//! through XDP, tc and cgroup skb programs without touching the machine's own interfaces
//! (other tests attach programs on the same machine at the same time).
//!
//! The host end stays in the caller's namespace with `<prefix>.1/24`; the peer end is in the
//! new namespace with `<prefix>.2/24`. IPv6 is off on both ends (no router solicitations or
//! neighbour discovery to count) and each end knows the other's MAC address (no ARP), so the
//! only packets are the ones the test sends. Dropping the pair deletes both.

use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd as _;
use std::process::Command;

/// A veth pair and the namespace holding its peer end.
pub struct VethPair {
    /// The end in the caller's namespace.
    pub host: String,
    /// The end in the new namespace.
    pub peer: String,
    /// The new namespace (`ip netns` name).
    pub netns: String,
    /// The host end's address.
    pub host_ip: Ipv4Addr,
    /// The peer end's address.
    pub peer_ip: Ipv4Addr,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("ip {}: {e} (is iproute2 installed?)", args.join(" ")));
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn mac(netns: Option<&str>, iface: &str) -> String {
    let mut args = Vec::new();
    if let Some(ns) = netns {
        args.extend(["-n", ns]);
    }
    args.extend(["-o", "link", "show", iface]);
    let out = Command::new("ip")
        .args(&args)
        .output()
        .expect("ip link show");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let words: Vec<&str> = text.split_whitespace().collect();
    let at = words
        .iter()
        .position(|w| *w == "link/ether")
        .unwrap_or_else(|| panic!("no MAC address in: {text}"));
    words[at + 1].to_string()
}

impl VethPair {
    /// Creates the namespace and the pair; `tag` (a few letters) and the process id make the
    /// names unique.
    pub fn new(tag: &str) -> VethPair {
        let pid = std::process::id();
        let host = format!("lj{tag}{}h", pid % 1_000_000);
        let peer = format!("lj{tag}{}p", pid % 1_000_000);
        let netns = format!("ljbpf-{tag}-{pid}");
        // A /24 per process and tag, in 10.213.0.0/16 and 10.214.0.0/16.
        let salt = tag.bytes().map(u32::from).sum::<u32>();
        let third = ((pid + salt * 7) % 250) as u8;
        let second = 213 + (pid / 250 % 2) as u8;
        let host_ip = Ipv4Addr::new(10, second, third, 1);
        let peer_ip = Ipv4Addr::new(10, second, third, 2);
        let pair = VethPair {
            host,
            peer,
            netns,
            host_ip,
            peer_ip,
        };
        let (h, p, ns) = (&pair.host, &pair.peer, &pair.netns);
        ip(&["netns", "add", ns]);
        ip(&[
            "link", "add", h, "type", "veth", "peer", "name", p, "netns", ns,
        ]);
        // Per-interface switches only: nothing global changes.
        std::fs::write(format!("/proc/sys/net/ipv6/conf/{h}/disable_ipv6"), "1")
            .expect("disable IPv6 on the host end");
        pair.in_netns(|| {
            std::fs::write(format!("/proc/sys/net/ipv6/conf/{p}/disable_ipv6"), "1")
                .expect("disable IPv6 on the peer end");
        });
        ip(&["addr", "add", &format!("{host_ip}/24"), "dev", h]);
        ip(&["-n", ns, "addr", "add", &format!("{peer_ip}/24"), "dev", p]);
        ip(&["link", "set", h, "up"]);
        ip(&["-n", ns, "link", "set", p, "up"]);
        ip(&["-n", ns, "link", "set", "lo", "up"]);
        let (hmac, pmac) = (mac(None, h), mac(Some(ns), p));
        ip(&[
            "neigh",
            "replace",
            &peer_ip.to_string(),
            "lladdr",
            &pmac,
            "dev",
            h,
        ]);
        ip(&[
            "-n",
            ns,
            "neigh",
            "replace",
            &host_ip.to_string(),
            "lladdr",
            &hmac,
            "dev",
            p,
        ]);
        pair
    }

    /// Runs `f` on a thread that has entered the peer's namespace (sockets it opens live
    /// there), and returns its result.
    pub fn in_netns<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = format!("/run/netns/{}", self.netns);
        std::thread::scope(|s| {
            s.spawn(|| {
                let ns = File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
                // SAFETY: setns on a valid namespace fd affects this thread only.
                let r = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(r, 0, "setns {path}: {}", std::io::Error::last_os_error());
                f()
            })
            .join()
            .expect("thread in the namespace")
        })
    }
}

impl Drop for VethPair {
    fn drop(&mut self) {
        // Deleting one end deletes the other; errors are ignored (already gone).
        let _ = Command::new("ip")
            .args(["link", "del", &self.host])
            .output();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .output();
    }
}
