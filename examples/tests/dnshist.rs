//! End-to-end tests of the `dnshist` example: the real binary on DNS queries sent over `lo`.

use std::net::UdpSocket;

use ljbpf_examples::testing::{assert_no_lua, bar_count, kernel_available, Running};

const DNSHIST: &str = env!("CARGO_BIN_EXE_dnshist");

/// A DNS query (RFC 1035 §4.1) for `name` of type `qtype`, class IN.
fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut packet = Vec::new();
    packet.extend_from_slice(&id.to_be_bytes());
    packet.extend_from_slice(&0x0100u16.to_be_bytes()); // standard query, recursion desired
    packet.extend_from_slice(&1u16.to_be_bytes()); // QDCOUNT
    packet.extend_from_slice(&[0; 6]); // ANCOUNT, NSCOUNT, ARCOUNT
    for label in name.split('.') {
        packet.push(u8::try_from(label.len()).unwrap());
        packet.extend_from_slice(label.as_bytes());
    }
    packet.push(0);
    packet.extend_from_slice(&qtype.to_be_bytes());
    packet.extend_from_slice(&1u16.to_be_bytes()); // QCLASS IN
    packet
}

/// Sends `count` queries for each `(name, qtype)` to 127.0.0.1:`port`.
fn send_queries(port: u16, queries: &[(&str, u16, u64)]) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut id = 0u16;
    for &(name, qtype, count) in queries {
        for _ in 0..count {
            id = id.wrapping_add(1);
            socket
                .send_to(&query(id, name, qtype), ("127.0.0.1", port))
                .unwrap();
        }
    }
}

/// On a port nothing else uses, the counts are exact: names of 1 to 10 labels are walked,
/// longer ones skipped, and datagrams to other ports ignored.
#[test]
fn counts_exactly_the_query_types_sent() {
    if !kernel_available("counts_exactly_the_query_types_sent") {
        return;
    }
    // A socket of ours holds the port, so no other test or process sends to it.
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let other = UdpSocket::bind("127.0.0.1:0").unwrap();
    let other_port = other.local_addr().unwrap().port();

    let port_arg = port.to_string();
    let tool = Running::start(DNSHIST, &["--duration", "2", "--port", &port_arg]);
    send_queries(
        port,
        &[
            ("example.com", 1, 7),
            ("www.example.org", 28, 5),
            ("example.net", 15, 3),
            ("x", 16, 2),
            // Ten labels, the most the probe walks.
            ("a.b.c.d.e.f.g.h.example.com", 33, 1),
            // Eleven labels: skipped.
            ("a.b.c.d.e.f.g.h.i.example.com", 255, 4),
        ],
    );
    send_queries(other_port, &[("example.com", 1, 9)]);

    let report = tool.finish();
    assert!(
        report.contains("     QTYPE        : count     distribution"),
        "{report}"
    );
    assert_eq!(bar_count(&report, "A"), Some(7), "{report}");
    assert_eq!(bar_count(&report, "AAAA"), Some(5), "{report}");
    assert_eq!(bar_count(&report, "MX"), Some(3), "{report}");
    assert_eq!(bar_count(&report, "TXT"), Some(2), "{report}");
    assert_eq!(bar_count(&report, "SRV"), Some(1), "{report}");
    assert_eq!(bar_count(&report, "ANY"), None, "{report}");
    assert!(
        report.contains("total 18 queries, 5 query types"),
        "{report}"
    );
    // The most frequent type is first, with the full 40-character bar.
    let first = report.lines().nth(3).unwrap_or_default();
    assert!(first.contains(&format!("|{}|", "*".repeat(40))), "{report}");
    assert!(first.trim_start().starts_with("A "), "{report}");
}

/// With the default port, queries to 127.0.0.1:53 are counted (nothing needs to listen: the
/// filter sees them arrive on `lo`). Other DNS traffic on the machine may add to the counts.
#[test]
fn counts_queries_to_port_53() {
    if !kernel_available("counts_queries_to_port_53") {
        return;
    }
    let tool = Running::start(DNSHIST, &["--duration", "2"]);
    send_queries(
        53,
        &[
            ("example.com", 1, 6),
            ("example.com", 28, 4),
            ("example.com", 257, 2),
        ],
    );
    let report = tool.finish();
    assert!(bar_count(&report, "A").unwrap_or(0) >= 6, "{report}");
    assert!(bar_count(&report, "AAAA").unwrap_or(0) >= 4, "{report}");
    assert!(bar_count(&report, "CAA").unwrap_or(0) >= 2, "{report}");
}

#[test]
fn dnshist_binary_contains_no_lua() {
    // Socket filters share the section `socket`; the line info names the program's Lua line.
    assert_no_lua(DNSHIST, "dns = bpf.socket(function (skb)");
}
