//! End-to-end tests of the `sockproto` example: the real binary on real loopback traffic.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};

use ljbpf_examples::testing::{assert_no_lua, kernel_available, row, Running};

const SOCKPROTO: &str = env!("CARGO_BIN_EXE_sockproto");

/// `(packets, bytes)` of the row for protocol number `proto`.
fn proto_row(report: &str, proto: u32) -> Option<(u64, u64)> {
    let words = row(report, &proto.to_string())?;
    match words.as_slice() {
        [_, _, packets, bytes] => Some((packets.parse().ok()?, bytes.parse().ok()?)),
        _ => None,
    }
}

/// UDP datagrams (over IPv4 and IPv6) and TCP connections on `lo` show up in the udp and tcp
/// rows, with the frame lengths counted as bytes.
#[test]
fn counts_udp_and_tcp_packets_on_lo() {
    if !kernel_available("counts_udp_and_tcp_packets_on_lo") {
        return;
    }
    const UDP4: u64 = 40;
    const UDP6: u64 = 10;
    const PAYLOAD: usize = 100;
    const TCP_CONNECTIONS: u64 = 5;

    let tool = Running::start(SOCKPROTO, &["--duration", "2", "--iface", "lo"]);

    // UDP to a socket of ours, so that no ICMP "port unreachable" comes back.
    let sink4 = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sender4 = UdpSocket::bind("127.0.0.1:0").unwrap();
    for _ in 0..UDP4 {
        sender4
            .send_to(&[b'u'; PAYLOAD], sink4.local_addr().unwrap())
            .unwrap();
    }
    // IPv6 where the machine has ::1 (the probe counts its next header, 17, in the same row).
    let udp6 = match (UdpSocket::bind("[::1]:0"), UdpSocket::bind("[::1]:0")) {
        (Ok(sink6), Ok(sender6)) => {
            for _ in 0..UDP6 {
                sender6
                    .send_to(&[b'u'; PAYLOAD], sink6.local_addr().unwrap())
                    .unwrap();
            }
            UDP6
        }
        _ => 0,
    };
    // TCP: each connection is at least a handshake, a data segment and two FINs.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        for _ in 0..TCP_CONNECTIONS {
            let (mut conn, _) = listener.accept().unwrap();
            let mut buf = [0; 64];
            let n = conn.read(&mut buf).unwrap();
            conn.write_all(&buf[..n]).unwrap();
        }
    });
    for _ in 0..TCP_CONNECTIONS {
        let mut conn = TcpStream::connect(addr).unwrap();
        conn.write_all(b"ping").unwrap();
        let mut echo = [0; 4];
        conn.read_exact(&mut echo).unwrap();
    }
    server.join().unwrap();

    let report = tool.finish();
    assert!(
        report.contains("PROTO NAME          PACKETS        BYTES"),
        "{report}"
    );
    let (packets, bytes) =
        proto_row(&report, 17).unwrap_or_else(|| panic!("no udp row:\n{report}"));
    assert!(packets >= UDP4 + udp6, "{report}");
    // Ethernet (14) + IPv4 (20) + UDP (8) + payload; IPv6 headers are 40 bytes.
    let frames = UDP4 * (14 + 20 + 8 + PAYLOAD as u64) + udp6 * (14 + 40 + 8 + PAYLOAD as u64);
    assert!(bytes >= frames, "{report}");
    assert!(row(&report, "17").unwrap()[1] == "udp", "{report}");
    let (packets, bytes) = proto_row(&report, 6).unwrap_or_else(|| panic!("no tcp row:\n{report}"));
    assert!(packets >= 5 * TCP_CONNECTIONS, "{report}");
    assert!(bytes >= packets * (14 + 20 + 20), "{report}");
    assert!(row(&report, "6").unwrap()[1] == "tcp", "{report}");
}

/// A name that is no interface is an error naming it, not a silent empty report.
#[test]
fn unknown_interface_is_an_error() {
    if !kernel_available("unknown_interface_is_an_error") {
        return;
    }
    let out = std::process::Command::new(SOCKPROTO)
        .args(["--duration", "1", "--iface", "nosuchif0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("nosuchif0"), "{stderr}");
}

#[test]
fn sockproto_binary_contains_no_lua() {
    // Socket filters share the section `socket`; the line info names the program's Lua line.
    assert_no_lua(SOCKPROTO, "count = bpf.socket(function (skb)");
}
