//! `ljbpf test-run` on small probe files: return value, output data, `--repeat`, `--json`,
//! `@FILE` input, raw tracepoints run on their arguments, and the errors (unknown program, kind
//! that cannot be test-run, bad hex).
//! Argument errors need no kernel; running needs root (skipped otherwise unless
//! `LJBPF_REQUIRE_KERNEL=1`).

use std::path::PathBuf;
use std::process::{Command, Output};

const LJBPF: &str = env!("CARGO_BIN_EXE_ljbpf");

/// Returns the IPv4 TTL plus the TCP destination port, or 7 for anything that is not IPv4.
const FILTER_LUA: &str = "\
return {
  ttl_port = bpf.socket(function (skb)
    if ntoh(pkt.type) ~= 0x0800 then return 7 end
    return pkt.ip.ttl + ntoh(pkt.ip.tcp.dst_port)
  end),
  on_enter = bpf.tracepoint('raw_syscalls/sys_enter', function (ctx)
    return 0
  end),
  raw_sum = bpf.raw_tracepoint('sys_enter', function (ctx)
    return ctx.arg0 * 1000 + ctx.arg1
  end),
  ttl_port_xdp = bpf.xdp(function (ctx)
    if ntoh(pkt.type) ~= 0x0800 then return 7 end
    pkt.ip.ttl = 1
    return pkt.ip.ttl + ntoh(pkt.ip.tcp.dst_port)
  end),
}
";

const SYS_ENTER_FORMAT: &str = "\
name: sys_enter
ID: 443
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:long id;\toffset:8;\tsize:8;\tsigned:1;
\tfield:unsigned long args[6];\toffset:16;\tsize:48;\tsigned:0;

print fmt: \"NR %ld\", REC->id
";

/// 14 bytes the kernel strips, Ethernet (type 0x0800), IPv4 (ihl 5, ttl 64, TCP), TCP with
/// destination port 80.
fn packet() -> Vec<u8> {
    let mut p = vec![0u8; 14 + 14 + 40];
    p[14 + 12] = 0x08;
    let ip = 28;
    p[ip] = 0x45;
    p[ip + 8] = 64;
    p[ip + 9] = 6;
    p[ip + 20 + 2..ip + 20 + 4].copy_from_slice(&80u16.to_be_bytes());
    p
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("ljbpf-test-run-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for (path, text) in [
            (
                "events/raw_syscalls/sys_enter/format",
                SYS_ENTER_FORMAT.as_bytes(),
            ),
            ("filter.lua", FILTER_LUA.as_bytes()),
            ("packet.bin", &packet()),
        ] {
            let path = dir.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        Scratch(dir)
    }

    fn ljbpf(&self, args: &[&str]) -> Output {
        Command::new(LJBPF)
            .current_dir(&self.0)
            .args(["--events-dir", "events", "test-run", "filter.lua"])
            .args(args)
            .output()
            .expect("run ljbpf")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn show(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn kernel_ready(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    if std::env::var("LJBPF_REQUIRE_KERNEL").as_deref() == Ok("1") {
        panic!("{test}: needs root for the bpf() syscall, and LJBPF_REQUIRE_KERNEL=1");
    }
    eprintln!("skipping {test}: needs root for the bpf() syscall");
    false
}

#[test]
fn runs_a_socket_filter_and_prints_retval_data_and_time() {
    if !kernel_ready("runs_a_socket_filter") {
        return;
    }
    let s = Scratch::new("run");
    let data = hex(&packet());
    let out = s.ljbpf(&["--program", "ttl_port", "--data", &data, "--repeat", "100"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{}", show(&out));
    assert_eq!(lines[0], "retval: 144", "{}", show(&out));
    // A socket filter does not change the packet: the output is the input.
    assert_eq!(lines[1], format!("data: {data}"), "{}", show(&out));
    assert!(
        lines[2].starts_with("ns/run: ") && lines[2].ends_with(" (repeat 100)"),
        "{}",
        show(&out)
    );

    // Not IPv4: the type field is the program's packet offset 12, data[14 + 12].
    let mut arp = packet();
    arp[14 + 13] = 0x06;
    let out = s.ljbpf(&["--program", "ttl_port", "--data", &hex(&arp)]);
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("retval: 7\n"),
        "{}",
        show(&out)
    );
}

#[test]
fn reads_binary_input_and_prints_json() {
    if !kernel_ready("reads_binary_input_and_prints_json") {
        return;
    }
    let s = Scratch::new("json");
    let out = s.ljbpf(&["--program", "ttl_port", "--data", "@packet.bin", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON output");
    assert_eq!(value["program"], "ttl_port");
    assert_eq!(value["retval"], 144);
    assert_eq!(value["data"], hex(&packet()));
    assert_eq!(value["repeat"], 1);
    assert!(value["duration_ns"].is_u64());
}

#[test]
fn unknown_program_lists_the_programs() {
    let s = Scratch::new("unknown");
    let out = s.ljbpf(&["--program", "nope", "--data", &hex(&packet())]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no program `nope`"), "{}", show(&out));
    assert!(
        err.contains("on_enter, raw_sum, ttl_port"),
        "{}",
        show(&out)
    );
}

/// An XDP program sees the frame from its first byte (no 14 bytes stripped) and its write
/// shows in the output data.
#[test]
fn runs_an_xdp_program_on_the_whole_frame() {
    if !kernel_ready("runs_an_xdp_program") {
        return;
    }
    let s = Scratch::new("xdp");
    let frame = &packet()[14..];
    let out = s.ljbpf(&["--program", "ttl_port_xdp", "--data", &hex(frame)]);
    assert!(out.status.success(), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("retval: 81\n"), "{}", show(&out));
    let mut want = frame.to_vec();
    want[14 + 8] = 1;
    assert!(
        text.contains(&format!("data: {}\n", hex(&want))),
        "{}",
        show(&out)
    );
}

#[test]
fn tracepoint_cannot_be_test_run() {
    let s = Scratch::new("kind");
    let out = s.ljbpf(&["--program", "on_enter", "--data", &hex(&packet())]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`on_enter` is a tracepoint, which the kernel cannot test-run"),
        "{}",
        show(&out)
    );
}

#[test]
fn runs_a_raw_tracepoint_on_its_arguments() {
    if !kernel_ready("runs_a_raw_tracepoint_on_its_arguments") {
        return;
    }
    let s = Scratch::new("raw");
    // ctx.arg0 = 7, ctx.arg1 = 42: little-endian 8-byte words.
    let args = "0700000000000000 2a00000000000000";
    let out = s.ljbpf(&["--program", "raw_sum", "--data", args]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "retval: 7042\n");
    let out = s.ljbpf(&["--program", "raw_sum", "--data", args, "--json"]);
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON output");
    assert_eq!(value["retval"], 7042, "{}", show(&out));
    // Not whole words: explained.
    let out = s.ljbpf(&["--program", "raw_sum", "--data", "070000"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("up to 12 little-endian u64 words"),
        "{}",
        show(&out)
    );
}

#[test]
fn bad_input_is_explained() {
    let s = Scratch::new("hex");
    for (data, expect) in [
        ("00zz", "'z' at character 3 is not a hex digit"),
        ("abc", "3 hex digits is not a whole number of bytes"),
        ("0011", "the data is 2 bytes"),
        ("@missing.bin", "cannot read missing.bin"),
    ] {
        let out = s.ljbpf(&["--program", "ttl_port", "--data", data]);
        assert_eq!(out.status.code(), Some(2), "{data}: {}", show(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(expect),
            "{data}: expected {expect:?}\n{}",
            show(&out)
        );
    }
}
