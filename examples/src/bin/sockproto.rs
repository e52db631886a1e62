//! sockproto: packets and bytes per IP protocol on a network interface, like the reference's
//! sock-proto example.
//!
//! The probe (`probes/sockproto.lua`) is a socket filter that counts every IPv4 and IPv6
//! packet by protocol number in the `stats` map; this side runs it on `--iface` (an
//! `AF_PACKET` socket bound to that interface), waits, and prints one row per protocol.

use std::error::Error;
use std::process::ExitCode;

use clap::Parser;
use ljbpf_examples::tool;
use ljbpf_runtime::SocketDirection;

ljbpf_macros::include_probe!("sockproto");

#[derive(Debug, Parser)]
#[command(
    name = "sockproto",
    about = "Count packets and bytes per IP protocol on a network interface"
)]
struct Args {
    /// Stop after SECS seconds and print (default: run until Ctrl-C).
    #[arg(short, long, value_name = "SECS")]
    duration: Option<u64>,
    /// The network interface to watch.
    #[arg(short, long, value_name = "IFACE", default_value = "lo")]
    iface: String,
}

fn main() -> ExitCode {
    let args = Args::parse();
    tool::main(
        "sockproto",
        "it loads a BPF program (the bpf() syscall) and opens an AF_PACKET socket",
        || run(&args),
    )
}

fn run(args: &Args) -> Result<(), Box<dyn Error>> {
    let mut probe = sockproto::Probe::load()?;
    tool::catch_ctrl_c();
    probe.attach_count(&args.iface, SocketDirection::OncePerPacket)?;
    tool::print_tracing(&format!("IP packets on {}", args.iface), args.duration);
    tool::wait(args.duration);

    let mut rows: Vec<(u32, sockproto::proto_stats)> = Vec::new();
    for entry in probe.stats()?.iter() {
        rows.push(entry?);
    }
    // Most packets first; equal counts by protocol number, so the output is stable.
    rows.sort_by(|a, b| b.1.packets.cmp(&a.1.packets).then(a.0.cmp(&b.0)));
    println!();
    println!(
        "{:>5} {:<10} {:>10} {:>12}",
        "PROTO", "NAME", "PACKETS", "BYTES"
    );
    for (proto, stats) in &rows {
        let name = protocol_name(*proto).map_or_else(|| format!("[{proto}]"), str::to_owned);
        println!(
            "{proto:>5} {name:<10} {:>10} {:>12}",
            stats.packets, stats.bytes
        );
    }
    Ok(())
}

/// The keyword of IP protocol number `proto` (IANA "Assigned Internet Protocol Numbers").
fn protocol_name(proto: u32) -> Option<&'static str> {
    Some(match proto {
        0 => "hopopt",
        1 => "icmp",
        2 => "igmp",
        4 => "ipip",
        6 => "tcp",
        17 => "udp",
        41 => "ipv6",
        43 => "ipv6-route",
        44 => "ipv6-frag",
        47 => "gre",
        50 => "esp",
        51 => "ah",
        58 => "icmpv6",
        59 => "ipv6-nonxt",
        60 => "ipv6-opts",
        89 => "ospf",
        103 => "pim",
        112 => "vrrp",
        132 => "sctp",
        136 => "udplite",
        137 => "mpls-in-ip",
        143 => "ethernet",
        255 => "raw",
        _ => return None,
    })
}
