//! End-to-end tests of the `httpmethods` example: the real binary on HTTP requests to a
//! server on 127.0.0.1.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};

use ljbpf_examples::testing::{assert_no_lua, bar_count, kernel_available, Running};

const HTTPMETHODS: &str = env!("CARGO_BIN_EXE_httpmethods");

/// Serves `n` requests, one per connection: reads the head (and a `Content-Length` body),
/// answers `200 OK`, closes.
fn serve(listener: TcpListener, n: usize) {
    for _ in 0..n {
        let (conn, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(conn);
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = value.trim().parse().unwrap();
            }
            if line == "\r\n" || line.is_empty() {
                break;
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let mut conn = reader.into_inner();
        conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .unwrap();
    }
}

/// One request on a new connection; waits for the whole response.
fn request(port: u16, method: &str, body: &str) {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let head = format!(
        "{method} /index.html HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    conn.write_all(head.as_bytes()).unwrap();
    let mut response = String::new();
    conn.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
}

/// Each method counts exactly its requests to the watched port; responses (`HTTP/1.1 ...`),
/// other methods (`PATCH`, `OPTIONS`) and requests to another port are not counted.
#[test]
fn counts_requests_per_method() {
    if !kernel_available("counts_requests_per_method") {
        return;
    }
    let sent = [
        ("GET", 6),
        ("POST", 4),
        ("PUT", 3),
        ("HEAD", 2),
        ("DELETE", 1),
        ("PATCH", 2),
        ("OPTIONS", 1),
    ];
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let other = TcpListener::bind("127.0.0.1:0").unwrap();
    let other_port = other.local_addr().unwrap().port();
    let total: usize = sent.iter().map(|&(_, n)| n).sum();
    let server = std::thread::spawn(move || serve(listener, total));
    let other_server = std::thread::spawn(move || serve(other, 3));

    let port_arg = port.to_string();
    let tool = Running::start(HTTPMETHODS, &["--duration", "2", "--port", &port_arg]);
    for &(method, n) in &sent {
        for _ in 0..n {
            let body = if method == "POST" || method == "PUT" {
                "name=value"
            } else {
                ""
            };
            request(port, method, body);
        }
    }
    for _ in 0..3 {
        request(other_port, "GET", "");
    }
    server.join().unwrap();
    other_server.join().unwrap();

    let report = tool.finish();
    assert!(
        report.contains("     METHOD       : count     distribution"),
        "{report}"
    );
    for &(method, n) in &sent[..5] {
        assert_eq!(
            bar_count(&report, method),
            Some(n as u64),
            "{method}:\n{report}"
        );
    }
    assert_eq!(bar_count(&report, "PATCH"), None, "{report}");
    assert!(report.contains("total 16 requests"), "{report}");
}

#[test]
fn httpmethods_binary_contains_no_lua() {
    // Socket filters share the section `socket`; the line info names the program's Lua line.
    assert_no_lua(HTTPMETHODS, "http = bpf.socket(function (skb)");
}
