//! End-to-end test of the `xdpfw` example: the real binary on real UDP traffic through a veth
//! pair into a network namespace the test creates (never `lo` or the machine's interfaces).

use std::net::UdpSocket;
use std::process::Command;
use std::time::Duration;

use ljbpf_examples::netns::VethPair;
use ljbpf_examples::testing::{assert_no_lua, kernel_available, row, Running};

const XDPFW: &str = env!("CARGO_BIN_EXE_xdpfw");

/// Datagrams sent from the namespace to an open port and to a dropped port: the open ones
/// arrive, the dropped ones do not, and the udp row counts both exactly. The XDP program is
/// gone from the interface after the tool exits.
#[test]
fn counts_and_drops_udp_on_a_veth() {
    if !kernel_available("counts_and_drops_udp_on_a_veth") {
        return;
    }
    const OPEN: u64 = 30;
    const DROPPED: u64 = 20;
    let veth = VethPair::new("xf");
    let open = UdpSocket::bind((veth.host_ip, 0)).unwrap();
    let closed = UdpSocket::bind((veth.host_ip, 0)).unwrap();
    let closed_port = closed.local_addr().unwrap().port().to_string();

    let tool = Running::start(
        XDPFW,
        &[
            "--iface",
            &veth.host,
            "--drop-port",
            &closed_port,
            "--duration",
            "2",
        ],
    );
    let (to_open, to_closed) = (open.local_addr().unwrap(), closed.local_addr().unwrap());
    veth.in_netns(|| {
        let sender = UdpSocket::bind((veth.peer_ip, 0)).unwrap();
        for i in 0..OPEN.max(DROPPED) {
            if i < OPEN {
                sender.send_to(b"open", to_open).unwrap();
            }
            if i < DROPPED {
                sender.send_to(b"dropped", to_closed).unwrap();
            }
        }
    });
    open.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buf = [0u8; 16];
    for _ in 0..OPEN {
        let n = open.recv(&mut buf).expect("an open-port datagram");
        assert_eq!(&buf[..n], b"open");
    }
    closed.set_nonblocking(true).unwrap();
    assert!(
        closed.recv(&mut buf).is_err(),
        "a datagram to the dropped port arrived"
    );

    let report = tool.finish();
    assert!(
        report.contains("PROTO NAME        PACKETS    DROPPED"),
        "{report}"
    );
    let udp = row(&report, "17").unwrap_or_else(|| panic!("no udp row:\n{report}"));
    assert_eq!(
        udp,
        [
            "17",
            "udp",
            &(OPEN + DROPPED).to_string(),
            &DROPPED.to_string()
        ],
        "{report}"
    );
    // Nothing else arrived: no IPv6, no ARP (the pair knows its neighbours).
    assert!(row(&report, "-").is_none(), "{report}");
    let link = Command::new("ip")
        .args(["-d", "link", "show", &veth.host])
        .output()
        .unwrap();
    let link = String::from_utf8_lossy(&link.stdout);
    assert!(
        !link.contains("xdp"),
        "XDP still attached after exit:\n{link}"
    );
}

#[test]
fn xdpfw_binary_has_no_lua() {
    assert_no_lua(XDPFW, "xdp");
}

/// The XDP program is a BPF link: killed with SIGKILL (no destructor runs), the tool leaves
/// nothing attached, because the kernel detaches a link when its last fd closes.
#[test]
fn sigkill_leaves_no_xdp_program() {
    if !kernel_available("sigkill_leaves_no_xdp_program") {
        return;
    }
    use std::io::{BufRead, BufReader};
    let veth = VethPair::new("xk");
    let mut child = Command::new(XDPFW)
        .args(["--iface", &veth.host])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("Tracing"), "{first}");
    let link = || {
        let out = Command::new("ip")
            .args(["-d", "link", "show", &veth.host])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(link().contains("xdp"), "not attached: {}", link());
    child.kill().unwrap();
    child.wait().unwrap();
    // The link's release is asynchronous for a moment after the process is reaped.
    for _ in 0..50 {
        if !link().contains("xdp") {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("XDP still attached after SIGKILL:\n{}", link());
}
