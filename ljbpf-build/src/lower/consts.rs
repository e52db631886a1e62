//! Compile-time constants of the probe language: `c.*` (protocol numbers, from
//! include/uapi/linux/if_ether.h, in.h and ip.h) and `BPF.*` (flags from
//! include/uapi/linux/bpf.h). Values are host-order numbers: compare them with `ntoh(field)`.

use crate::lua::decode::Const;

fn table(entries: &[(&str, i64)]) -> Const {
    let mut fields: Vec<(String, Const)> = entries
        .iter()
        .map(|(k, v)| (k.to_string(), Const::Num(*v as f64)))
        .collect();
    fields.sort_by(|a, b| a.0.cmp(&b.0));
    Const::Table(fields)
}

/// `c`: `c.eth.*`, `c.ip.*`.
pub fn protocol() -> Const {
    let eth = table(&[
        ("ip", 0x0800),
        ("arp", 0x0806),
        ("revarp", 0x8035),
        ("vlan", 0x8100),
        ("ip6", 0x86dd),
    ]);
    let ip = table(&[
        ("proto_ip", 0),
        ("proto_icmp", 1),
        ("proto_igmp", 2),
        ("proto_ipip", 4),
        ("proto_tcp", 6),
        ("proto_egp", 8),
        ("proto_pup", 12),
        ("proto_udp", 17),
        ("proto_idp", 22),
        ("proto_tp", 29),
        ("proto_dccp", 33),
        ("proto_ipv6", 41),
        ("proto_rsvp", 46),
        ("proto_gre", 47),
        ("proto_esp", 50),
        ("proto_ah", 51),
        ("proto_icmpv6", 58),
        ("proto_mtp", 92),
        ("proto_beetph", 94),
        ("proto_encap", 98),
        ("proto_pim", 103),
        ("proto_comp", 108),
        ("proto_sctp", 132),
        ("proto_udplite", 136),
        ("proto_mpls", 137),
        ("proto_raw", 255),
        ("addr_any", 0),
        ("addr_broadcast", 0xffff_ffff),
        ("addr_loopback", 0x7f00_0001),
        ("addr_none", 0xffff_ffff),
        ("tos_lowdelay", 0x10),
        ("tos_throughput", 0x08),
        ("tos_reliability", 0x04),
        ("tos_mincost", 0x02),
        ("df", 0x4000),
        ("mf", 0x2000),
        ("rf", 0x8000),
        ("offmask", 0x1fff),
        ("ttl_default", 64),
        ("ttl_max", 255),
    ]);
    Const::Table(vec![("eth".into(), eth), ("ip".into(), ip)])
}

/// `BPF`: helper flags.
pub fn bpf_flags() -> Const {
    table(&[
        ("ANY", 0),
        ("NOEXIST", 1),
        ("EXIST", 2),
        ("F_CURRENT_CPU", 0xffff_ffff),
        ("F_USER_STACK", 1 << 8),
        ("F_FAST_STACK_CMP", 1 << 9),
        ("F_REUSE_STACKID", 1 << 10),
    ])
}
