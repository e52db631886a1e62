//! `ljbpf test-run`: one program of a probe file run by the kernel on given input
//! (`BPF_PROG_TEST_RUN`).
//!
//! Output, one fact per line so that scripts can pick lines by their prefix:
//!
//! ```text
//! retval: 1
//! data: 000000000000...          (the packet after the run, hex, reusable as --data)
//! ns/run: 23 (repeat 1000)
//! ```
//!
//! `--json` prints one object with the same facts instead.

use std::path::Path;
use std::process::ExitCode;

use ljbpf_build::core::program::{ProgramClass, ProgramKind};
use ljbpf_build::{CompiledProbe, Options};

use crate::Failure;

/// The Ethernet header the kernel strips before running a socket filter or cgroup skb program
/// (net/bpf/test_run.c calls `eth_type_trans`; XDP and tc programs see it); shorter input is
/// rejected with `EINVAL`.
const ETH_HLEN: usize = 14;

/// What to run, as given on the command line.
pub struct Request<'a> {
    pub file: &'a Path,
    pub program: &'a str,
    /// `HEX` or `@FILE`.
    pub data: &'a str,
    pub repeat: u32,
    pub json: bool,
}

pub fn run(req: &Request<'_>, opts: &Options) -> Result<ExitCode, Failure> {
    let probe = crate::compile(req.file, opts)?;
    let data = read_data(req.data)?;
    let raw = check_program(&probe, req.program)?;
    if raw {
        return run_raw(req, &probe, &data);
    }
    if data.len() < ETH_HLEN {
        return Err(Failure::Other(format!(
            "the data is {} bytes; a packet program runs on an Ethernet frame of at least \
             {ETH_HLEN} bytes (for socket filters and cgroup skb programs the kernel strips the \
             Ethernet header, so the program's packet offset 0 is byte {ETH_HLEN} of the data)",
            data.len()
        )));
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Err(Failure::Other(
            "test-run loads the probe into the kernel with the bpf() syscall, which needs root; \
             run it as root"
                .to_owned(),
        ));
    }
    let loaded = ljbpf_runtime::Probe::load(ljbpf_cli::spec(&probe))
        .map_err(|e| Failure::Other(ljbpf_cli::chain(&e)))?;
    let result = loaded
        .test_run(req.program, &data, req.repeat)
        .map_err(|e| Failure::Other(ljbpf_cli::chain(&e)))?;
    let repeat = req.repeat.max(1);
    let text = if req.json {
        let value = serde_json::json!({
            "program": req.program,
            "retval": result.retval,
            "data": hex(&result.data_out),
            "duration_ns": result.duration_ns,
            "repeat": repeat,
        });
        let json = serde_json::to_string_pretty(&value).expect("JSON values always serialize");
        format!("{json}\n")
    } else {
        format!(
            "retval: {}\ndata: {}\nns/run: {} (repeat {repeat})\n",
            result.retval,
            hex(&result.data_out),
            result.duration_ns
        )
    };
    // A closed pipe (`| head -1`) is not an error worth a panic.
    let _ = std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes());
    Ok(ExitCode::SUCCESS)
}

/// A raw tracepoint's test run: `data` is its context, the arguments as little-endian `u64`
/// words (`ctx_in` of `BPF_PROG_TEST_RUN`); only the return value comes back.
fn run_raw(req: &Request<'_>, probe: &CompiledProbe, data: &[u8]) -> Result<ExitCode, Failure> {
    if !data.len().is_multiple_of(8) || data.len() > 8 * MAX_RAW_ARGS {
        return Err(Failure::Other(format!(
            "the data is {} bytes; a raw tracepoint runs on its arguments, up to {MAX_RAW_ARGS} \
             little-endian u64 words (8 bytes each): e.g. `--data 2a00000000000000` for \
             ctx.arg0 = 42",
            data.len()
        )));
    }
    let args: Vec<u64> = data
        .chunks(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8-byte chunks")))
        .collect();
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Err(Failure::Other(
            "test-run loads the probe into the kernel with the bpf() syscall, which needs root; \
             run it as root (sudo ljbpf test-run ...)"
                .to_owned(),
        ));
    }
    let loaded = ljbpf_runtime::Probe::load(ljbpf_cli::spec(probe))
        .map_err(|e| Failure::Other(ljbpf_cli::chain(&e)))?;
    let mut retval = 0;
    for _ in 0..req.repeat.max(1) {
        retval = loaded
            .test_run_raw(req.program, &args)
            .map_err(|e| Failure::Other(ljbpf_cli::chain(&e)))?;
    }
    let text = if req.json {
        let value = serde_json::json!({ "program": req.program, "retval": retval });
        let json = serde_json::to_string_pretty(&value).expect("JSON values always serialize");
        format!("{json}\n")
    } else {
        format!("retval: {retval}\n")
    };
    let _ = std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes());
    Ok(ExitCode::SUCCESS)
}

/// `MAX_BPF_FUNC_ARGS`: the most arguments a raw tracepoint test run takes.
const MAX_RAW_ARGS: usize = 12;

/// Checks that `probe` has a program `name` of a kind the kernel can test-run; `true` for a
/// raw tracepoint (run on arguments rather than a packet).
fn check_program(probe: &CompiledProbe, name: &str) -> Result<bool, Failure> {
    let Some(program) = probe.programs.iter().find(|p| p.name == name) else {
        let names: Vec<&str> = probe.programs.iter().map(|p| p.name.as_str()).collect();
        return Err(Failure::Other(format!(
            "{} has no program `{name}`; its programs are: {}",
            probe.path.display(),
            names.join(", ")
        )));
    };
    match &program.kind {
        ProgramKind::RawTracepoint { .. } => return Ok(true),
        kind if kind.class().test_run() => return Ok(false),
        _ => {}
    }
    let runnable: Vec<&str> = ProgramClass::ALL
        .iter()
        .filter(|c| c.test_run())
        .map(|c| c.constructor())
        .collect();
    // BPF_PROG_TEST_RUN is not implemented for the other program types (the kernel returns
    // ENOTSUPP): they run only when their event fires. For fentry/fexit it only calls the
    // kernel's own bpf_fentry_test* functions, which tests nothing a probe targets.
    let kind = program.kind.as_str();
    let article = if kind.starts_with(['a', 'e', 'i', 'o', 'f']) {
        "an"
    } else {
        "a"
    };
    Err(Failure::Other(format!(
        "program `{name}` is {article} {kind}, which the kernel cannot test-run; test-run \
         supports {} programs",
        runnable.join(", ")
    )))
}

/// The input bytes: `@FILE` is the file's raw bytes, anything else is hex (whitespace and `:`
/// between bytes are ignored, an optional `0x` prefix is allowed).
pub fn read_data(arg: &str) -> Result<Vec<u8>, Failure> {
    if let Some(path) = arg.strip_prefix('@') {
        return std::fs::read(path).map_err(|e| Failure::Other(format!("cannot read {path}: {e}")));
    }
    parse_hex(arg).map_err(Failure::Other)
}

/// Hex digits to bytes.
pub fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let text = text.trim();
    let text = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text);
    let mut digits = Vec::with_capacity(text.len());
    for (at, ch) in text.char_indices() {
        if ch.is_ascii_whitespace() || ch == ':' {
            continue;
        }
        let Some(d) = ch.to_digit(16) else {
            return Err(format!(
                "bad hex data: {ch:?} at character {} is not a hex digit (give the bytes as hex, \
                 e.g. `--data 0a0b0c`, or `--data @FILE` for a binary file)",
                at + 1
            ));
        };
        digits.push(d as u8);
    }
    if digits.len() % 2 != 0 {
        return Err(format!(
            "bad hex data: {} hex digits is not a whole number of bytes",
            digits.len()
        ));
    }
    Ok(digits.chunks(2).map(|p| (p[0] << 4) | p[1]).collect())
}

/// Bytes as lowercase hex without separators.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips() {
        let bytes = parse_hex("0x00 ff:10\n7A").unwrap();
        assert_eq!(bytes, vec![0x00, 0xff, 0x10, 0x7a]);
        assert_eq!(hex(&bytes), "00ff107a");
        assert_eq!(parse_hex("").unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn bad_hex_is_explained() {
        let odd = parse_hex("abc").unwrap_err();
        assert!(odd.contains("3 hex digits"), "{odd}");
        let bad = parse_hex("00zz").unwrap_err();
        assert!(bad.contains("'z' at character 3"), "{bad}");
    }
}
