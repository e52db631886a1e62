//! dnshist: a histogram of DNS query types, like the reference's sock-parse-dns example.
//!
//! The probe (`probes/dnshist.lua`) is a socket filter that parses IPv4 UDP datagrams to the
//! DNS port, walks the QNAME of the first question and counts its QTYPE in the `qtypes` map;
//! this side runs it on `--iface`, waits, and prints the counts with bars.

use std::error::Error;
use std::process::ExitCode;

use clap::Parser;
use ljbpf_examples::{hist, tool};
use ljbpf_runtime::SocketDirection;

ljbpf_macros::include_probe!("dnshist");

#[derive(Debug, Parser)]
#[command(
    name = "dnshist",
    about = "Count DNS queries per query type (QTYPE) seen on a network interface"
)]
struct Args {
    /// Stop after SECS seconds and print (default: run until Ctrl-C).
    #[arg(short, long, value_name = "SECS")]
    duration: Option<u64>,
    /// The network interface to watch.
    #[arg(short, long, value_name = "IFACE", default_value = "lo")]
    iface: String,
    /// The UDP destination port of DNS queries.
    #[arg(short, long, value_name = "PORT", default_value_t = 53)]
    port: u16,
}

fn main() -> ExitCode {
    let args = Args::parse();
    tool::main(
        "dnshist",
        "it loads a BPF program (the bpf() syscall) and opens an AF_PACKET socket",
        || run(&args),
    )
}

fn run(args: &Args) -> Result<(), Box<dyn Error>> {
    let mut probe = dnshist::Probe::load()?;
    // config[0] is the port queries go to.
    probe.config()?.set(0, u64::from(args.port), 0)?;
    tool::catch_ctrl_c();
    probe.attach_dns(&args.iface, SocketDirection::OncePerPacket)?;
    tool::print_tracing(
        &format!("DNS queries to UDP port {} on {}", args.port, args.iface),
        args.duration,
    );
    tool::wait(args.duration);

    let mut counts: Vec<(u32, u64)> = Vec::new();
    for entry in probe.qtypes()?.iter() {
        counts.push(entry?);
    }
    // By type number; `named_bars` then orders by count and keeps this order for ties.
    counts.sort();
    let rows: Vec<(String, u64)> = counts
        .iter()
        .map(|&(qtype, n)| (qtype_name(qtype), n))
        .collect();
    let total: u64 = counts.iter().map(|&(_, n)| n).sum();
    println!();
    print!("{}", hist::named_bars(&rows, "QTYPE"));
    println!();
    println!("total {total} queries, {} query types", counts.len());
    Ok(())
}

/// The mnemonic of DNS RR type `qtype` (IANA "DNS Parameters"), or `TYPE<n>` for others
/// (RFC 3597's notation for unknown types).
fn qtype_name(qtype: u32) -> String {
    let name = match qtype {
        1 => "A",
        2 => "NS",
        5 => "CNAME",
        6 => "SOA",
        12 => "PTR",
        13 => "HINFO",
        15 => "MX",
        16 => "TXT",
        28 => "AAAA",
        29 => "LOC",
        33 => "SRV",
        35 => "NAPTR",
        39 => "DNAME",
        41 => "OPT",
        43 => "DS",
        46 => "RRSIG",
        47 => "NSEC",
        48 => "DNSKEY",
        50 => "NSEC3",
        52 => "TLSA",
        64 => "SVCB",
        65 => "HTTPS",
        99 => "SPF",
        252 => "AXFR",
        251 => "IXFR",
        255 => "ANY",
        256 => "URI",
        257 => "CAA",
        _ => return format!("TYPE{qtype}"),
    };
    name.to_owned()
}
