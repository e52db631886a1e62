//! xdpfw: a small XDP firewall. Counts the packets arriving on a network interface per IP
//! protocol and drops TCP and UDP packets to the given destination ports.
//!
//! The probe (`probes/xdpfw.lua`) is an XDP program; this side fills its `blocked` map from
//! `--drop-port`, attaches it to `--iface` (detached again when the tool exits), waits, and
//! prints one row per protocol with the packets seen and dropped.

use std::error::Error;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use ljbpf_examples::tool;
use ljbpf_runtime::XdpMode;

ljbpf_macros::include_probe!("xdpfw");

/// The key under which the probe counts packets that are neither IPv4 nor IPv6.
const OTHER: u32 = 256;

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Mode {
    /// Let the kernel choose (native where the driver has XDP, else generic).
    Auto,
    /// Generic XDP, in the network stack.
    Skb,
    /// Native XDP, in the driver.
    Drv,
}

#[derive(Debug, Parser)]
#[command(
    name = "xdpfw",
    about = "Count packets per IP protocol on an interface with XDP and drop some ports"
)]
struct Args {
    /// The network interface to attach to.
    #[arg(short, long, value_name = "IFACE")]
    iface: String,
    /// Drop TCP and UDP packets to this destination port (may be given several times).
    #[arg(long = "drop-port", value_name = "PORT")]
    drop_ports: Vec<u16>,
    /// Stop after SECS seconds and print (default: run until Ctrl-C).
    #[arg(short, long, value_name = "SECS")]
    duration: Option<u64>,
    /// Where XDP runs.
    #[arg(long, value_enum, default_value_t = Mode::Auto)]
    mode: Mode,
}

fn main() -> ExitCode {
    let args = Args::parse();
    tool::main(
        "xdpfw",
        "it loads a BPF program (the bpf() syscall) and attaches it to an interface",
        || run(&args),
    )
}

fn run(args: &Args) -> Result<(), Box<dyn Error>> {
    let mut probe = xdpfw::Probe::load()?;
    {
        let mut blocked = probe.blocked()?;
        for port in &args.drop_ports {
            blocked.insert(port, 1, 0)?;
        }
    }
    tool::catch_ctrl_c();
    let mode = match args.mode {
        Mode::Auto => XdpMode::Default,
        Mode::Skb => XdpMode::Skb,
        Mode::Drv => XdpMode::Driver,
    };
    probe.attach_fw(&args.iface, mode)?;
    tool::print_tracing(
        &format!("packets arriving on {}", args.iface),
        args.duration,
    );
    tool::wait(args.duration);

    let mut rows: Vec<(u32, u128, u128)> = Vec::new();
    let stats = probe.stats()?;
    for proto in 0..=OTHER {
        let per_cpu = stats.get(&proto, 0)?;
        let packets: u128 = per_cpu.iter().map(|s| u128::from(s.packets)).sum();
        let dropped: u128 = per_cpu.iter().map(|s| u128::from(s.dropped)).sum();
        if packets > 0 {
            rows.push((proto, packets, dropped));
        }
    }
    // Most packets first; equal counts by protocol number, so the output is stable.
    rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    println!();
    println!(
        "{:>5} {:<8} {:>10} {:>10}",
        "PROTO", "NAME", "PACKETS", "DROPPED"
    );
    for (proto, packets, dropped) in &rows {
        let name = match *proto {
            1 => "icmp",
            6 => "tcp",
            17 => "udp",
            58 => "icmpv6",
            OTHER => "other",
            _ => "-",
        };
        let proto = if *proto == OTHER {
            "-".to_string()
        } else {
            proto.to_string()
        };
        println!("{proto:>5} {name:<8} {packets:>10} {dropped:>10}");
    }
    Ok(())
}
