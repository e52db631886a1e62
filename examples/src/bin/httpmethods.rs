//! httpmethods: HTTP requests per method seen on a network interface, like the reference's
//! HTTP filter example.
//!
//! The probe (`probes/httpmethods.lua`) is a socket filter that counts IPv4 TCP segments whose
//! payload starts with a request method in the `methods` map; this side runs it on `--iface`,
//! waits, and prints the counts with bars.

use std::error::Error;
use std::process::ExitCode;

use clap::Parser;
use ljbpf_examples::{hist, tool};
use ljbpf_runtime::SocketDirection;

ljbpf_macros::include_probe!("httpmethods");

/// The methods in the order of the probe's `methods` indexes (`GET, POST, ... = 0, 1, ...`).
const METHODS: [&str; 5] = ["GET", "POST", "PUT", "HEAD", "DELETE"];

#[derive(Debug, Parser)]
#[command(
    name = "httpmethods",
    about = "Count HTTP requests per method seen on a network interface"
)]
struct Args {
    /// Stop after SECS seconds and print (default: run until Ctrl-C).
    #[arg(short, long, value_name = "SECS")]
    duration: Option<u64>,
    /// The network interface to watch.
    #[arg(short, long, value_name = "IFACE", default_value = "lo")]
    iface: String,
    /// Count only requests to this TCP port (default: every port).
    #[arg(short, long, value_name = "PORT")]
    port: Option<u16>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    tool::main(
        "httpmethods",
        "it loads a BPF program (the bpf() syscall) and opens an AF_PACKET socket",
        || run(&args),
    )
}

fn run(args: &Args) -> Result<(), Box<dyn Error>> {
    let mut probe = httpmethods::Probe::load()?;
    // config[0] is the server port to watch; 0 watches every port.
    probe
        .config()?
        .set(0, u64::from(args.port.unwrap_or(0)), 0)?;
    tool::catch_ctrl_c();
    probe.attach_http(&args.iface, SocketDirection::OncePerPacket)?;
    let whom = match args.port {
        Some(port) => format!("HTTP requests to TCP port {port} on {}", args.iface),
        None => format!("HTTP requests on {}", args.iface),
    };
    tool::print_tracing(&whom, args.duration);
    tool::wait(args.duration);

    let map = probe.methods()?;
    let mut rows = Vec::new();
    for (index, method) in (0u32..).zip(METHODS) {
        rows.push((method.to_owned(), map.get(&index, 0)?));
    }
    let total: u64 = rows.iter().map(|(_, n)| n).sum();
    println!();
    print!("{}", hist::named_bars(&rows, "METHOD"));
    println!();
    println!("total {total} requests");
    Ok(())
}
