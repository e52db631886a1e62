//! Packet dissectors (socket filters, XDP, tc, cgroup skb): one table of headers, their fields
//! (read in network byte order) and the headers they lead to (documented in
//! `docs/language.md`, which a test below holds to this table).

/// A protocol header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Hdr {
    /// Where a packet that starts at the network header starts (cgroup skb): `pkt.ip`,
    /// `pkt.ip6`.
    Net,
    Eth,
    Dot1q,
    Arp,
    Ip,
    Ip6,
    Ip6Opt,
    Icmp,
    Icmp6,
    Udp,
    Tcp,
    Vxlan,
    Data,
}

/// A field: byte offset, byte width, and for bit fields (shift from the least significant bit
/// of the big-endian container, bit width).
#[derive(Clone, Copy, Debug)]
pub struct PktField {
    /// Offset from the header start.
    pub off: i32,
    /// Width of the container in bytes.
    pub size: u32,
    /// Bit field: (shift, width).
    pub bits: Option<(u8, u8)>,
}

/// How far the next header is.
#[derive(Clone, Copy, Debug)]
pub enum Next {
    /// A fixed number of bytes.
    Fixed(i32),
    /// `((byte at off) >> shift & mask) * mul + add`, read at run time.
    Dyn {
        off: i32,
        shift: u8,
        mask: u8,
        mul: i32,
        add: i32,
    },
}

const fn f(off: i32, size: u32) -> PktField {
    PktField {
        off,
        size,
        bits: None,
    }
}

const fn b(off: i32, size: u32, shift: u8, width: u8) -> PktField {
    PktField {
        off,
        size,
        bits: Some((shift, width)),
    }
}

impl Hdr {
    /// Its name in probe code.
    pub fn name(self) -> &'static str {
        match self {
            Hdr::Net => "pkt",
            Hdr::Eth => "eth",
            Hdr::Dot1q => "dot1q",
            Hdr::Arp => "arp",
            Hdr::Ip => "ip",
            Hdr::Ip6 => "ip6",
            Hdr::Ip6Opt => "ip6_opt",
            Hdr::Icmp => "icmp",
            Hdr::Icmp6 => "icmp6",
            Hdr::Udp => "udp",
            Hdr::Tcp => "tcp",
            Hdr::Vxlan => "vxlan",
            Hdr::Data => "data",
        }
    }

    /// A field of this header.
    pub fn field(self, name: &str) -> Option<PktField> {
        Some(match (self, name) {
            (Hdr::Eth, "type") => f(12, 2),
            (Hdr::Dot1q, "pri") => b(0, 2, 13, 3),
            (Hdr::Dot1q, "cfi") => b(0, 2, 12, 1),
            (Hdr::Dot1q, "vlanid") => b(0, 2, 0, 12),
            (Hdr::Dot1q, "type") => f(2, 2),
            (Hdr::Arp, "htype") => f(0, 2),
            (Hdr::Arp, "ptype") => f(2, 2),
            (Hdr::Arp, "hlen") => f(4, 1),
            (Hdr::Arp, "plen") => f(5, 1),
            (Hdr::Arp, "oper") => f(6, 2),
            (Hdr::Arp, "spa") => f(14, 4),
            (Hdr::Arp, "tpa") => f(24, 4),
            (Hdr::Ip, "ver") => b(0, 1, 4, 4),
            (Hdr::Ip, "hlen") => b(0, 1, 0, 4),
            (Hdr::Ip, "tos") => f(1, 1),
            (Hdr::Ip, "tlen") => f(2, 2),
            (Hdr::Ip, "identification") => f(4, 2),
            (Hdr::Ip, "df") => b(6, 2, 14, 1),
            (Hdr::Ip, "mf") => b(6, 2, 13, 1),
            (Hdr::Ip, "foffset") => b(6, 2, 0, 13),
            (Hdr::Ip, "ttl") => f(8, 1),
            (Hdr::Ip, "proto") => f(9, 1),
            (Hdr::Ip, "hchecksum") => f(10, 2),
            (Hdr::Ip, "src") => f(12, 4),
            (Hdr::Ip, "dst") => f(16, 4),
            (Hdr::Ip6, "ver") => b(0, 4, 28, 4),
            (Hdr::Ip6, "priority") => b(0, 4, 20, 8),
            (Hdr::Ip6, "flow_label") => b(0, 4, 0, 20),
            (Hdr::Ip6, "payload_len") => f(4, 2),
            (Hdr::Ip6, "next_header") => f(6, 1),
            (Hdr::Ip6, "hop_limit") => f(7, 1),
            (Hdr::Ip6, "src_hi") => f(8, 8),
            (Hdr::Ip6, "src_lo") => f(16, 8),
            (Hdr::Ip6, "dst_hi") => f(24, 8),
            (Hdr::Ip6, "dst_lo") => f(32, 8),
            (Hdr::Ip6Opt, "next_header") => f(0, 1),
            (Hdr::Ip6Opt, "ext_len") => f(1, 1),
            (Hdr::Icmp | Hdr::Icmp6, "type") => f(0, 1),
            (Hdr::Icmp | Hdr::Icmp6, "code") => f(1, 1),
            (Hdr::Icmp | Hdr::Icmp6, "checksum") => f(2, 2),
            (Hdr::Udp, "src_port") => f(0, 2),
            (Hdr::Udp, "dst_port") => f(2, 2),
            (Hdr::Udp, "length") => f(4, 2),
            (Hdr::Udp, "crc") => f(6, 2),
            (Hdr::Tcp, "src_port") => f(0, 2),
            (Hdr::Tcp, "dst_port") => f(2, 2),
            (Hdr::Tcp, "seq_num") => f(4, 4),
            (Hdr::Tcp, "ack_num") => f(8, 4),
            (Hdr::Tcp, "offset") => b(12, 1, 4, 4),
            (Hdr::Tcp, "reserved") => b(12, 1, 0, 4),
            (Hdr::Tcp, "flag_cwr") => b(13, 1, 7, 1),
            (Hdr::Tcp, "flag_ece") => b(13, 1, 6, 1),
            (Hdr::Tcp, "flag_urg") => b(13, 1, 5, 1),
            (Hdr::Tcp, "flag_ack") => b(13, 1, 4, 1),
            (Hdr::Tcp, "flag_psh") => b(13, 1, 3, 1),
            (Hdr::Tcp, "flag_rst") => b(13, 1, 2, 1),
            (Hdr::Tcp, "flag_syn") => b(13, 1, 1, 1),
            (Hdr::Tcp, "flag_fin") => b(13, 1, 0, 1),
            (Hdr::Tcp, "rcv_wnd") => f(14, 2),
            (Hdr::Tcp, "cksum") => f(16, 2),
            (Hdr::Tcp, "urg_ptr") => f(18, 2),
            (Hdr::Vxlan, "rsv1") => b(0, 1, 4, 4),
            (Hdr::Vxlan, "iflag") => b(0, 1, 3, 1),
            (Hdr::Vxlan, "rsv2") => b(0, 1, 0, 3),
            (Hdr::Vxlan, "rsv3") => b(0, 4, 0, 24),
            (Hdr::Vxlan, "key") => b(4, 4, 8, 24),
            (Hdr::Vxlan, "rsv4") => b(4, 4, 0, 8),
            _ => return None,
        })
    }

    /// The header `name` reached from this one, and how far it is.
    pub fn next(self, name: &str) -> Option<(Hdr, Next)> {
        let ip_l4 = Next::Dyn {
            off: 0,
            shift: 0,
            mask: 0x0f,
            mul: 4,
            add: 0,
        };
        let opt = Next::Dyn {
            off: 1,
            shift: 0,
            mask: 0xff,
            mul: 8,
            add: 8,
        };
        Some(match (self, name) {
            (Hdr::Net, "ip") => (Hdr::Ip, Next::Fixed(0)),
            (Hdr::Net, "ip6") => (Hdr::Ip6, Next::Fixed(0)),
            (Hdr::Eth, "ip") => (Hdr::Ip, Next::Fixed(14)),
            (Hdr::Eth, "ip6") => (Hdr::Ip6, Next::Fixed(14)),
            (Hdr::Eth, "arp") => (Hdr::Arp, Next::Fixed(14)),
            (Hdr::Eth, "dot1q") => (Hdr::Dot1q, Next::Fixed(14)),
            (Hdr::Dot1q, "ip") => (Hdr::Ip, Next::Fixed(4)),
            (Hdr::Dot1q, "ip6") => (Hdr::Ip6, Next::Fixed(4)),
            (Hdr::Dot1q, "arp") => (Hdr::Arp, Next::Fixed(4)),
            (Hdr::Ip, "icmp") => (Hdr::Icmp, ip_l4),
            (Hdr::Ip, "udp") => (Hdr::Udp, ip_l4),
            (Hdr::Ip, "tcp") => (Hdr::Tcp, ip_l4),
            (Hdr::Ip6, "icmp6") => (Hdr::Icmp6, Next::Fixed(40)),
            (Hdr::Ip6, "udp") => (Hdr::Udp, Next::Fixed(40)),
            (Hdr::Ip6, "tcp") => (Hdr::Tcp, Next::Fixed(40)),
            (Hdr::Ip6, "ip6_opt") => (Hdr::Ip6Opt, Next::Fixed(40)),
            (Hdr::Ip6Opt, "icmp6") => (Hdr::Icmp6, opt),
            (Hdr::Ip6Opt, "udp") => (Hdr::Udp, opt),
            (Hdr::Ip6Opt, "tcp") => (Hdr::Tcp, opt),
            (Hdr::Ip6Opt, "ip6_opt") => (Hdr::Ip6Opt, opt),
            (Hdr::Udp, "data") => (Hdr::Data, Next::Fixed(8)),
            (Hdr::Udp, "vxlan") => (Hdr::Vxlan, Next::Fixed(8)),
            (Hdr::Tcp, "data") => (
                Hdr::Data,
                Next::Dyn {
                    off: 12,
                    shift: 4,
                    mask: 0x0f,
                    mul: 4,
                    add: 0,
                },
            ),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: &[Hdr] = &[
        Hdr::Net,
        Hdr::Eth,
        Hdr::Dot1q,
        Hdr::Arp,
        Hdr::Ip,
        Hdr::Ip6,
        Hdr::Ip6Opt,
        Hdr::Icmp,
        Hdr::Icmp6,
        Hdr::Udp,
        Hdr::Tcp,
        Hdr::Vxlan,
        Hdr::Data,
    ];

    /// The words between backticks in `cell`.
    fn quoted(cell: &str) -> Vec<&str> {
        cell.split('`').skip(1).step_by(2).collect()
    }

    /// Every row of the dissector table in docs/language.md names headers, fields (with their
    /// bit widths) and next headers this table has, and every header has a row.
    #[test]
    fn the_language_reference_lists_these_dissectors() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/language.md");
        let doc = std::fs::read_to_string(path).unwrap();
        let section = doc
            .split("\n## Packet dissectors\n")
            .nth(1)
            .and_then(|s| s.split("\n## ").next())
            .expect("docs/language.md has a `## Packet dissectors` section");
        let mut documented = Vec::new();
        for row in section.lines().filter(|l| l.starts_with("| `")) {
            let cells: Vec<&str> = row.split(" | ").collect();
            assert_eq!(cells.len(), 3, "{row}");
            for name in quoted(cells[0]) {
                let hdr = *ALL
                    .iter()
                    .find(|h| h.name() == name)
                    .unwrap_or_else(|| panic!("no header `{name}` in the code: {row}"));
                documented.push(hdr);
                for field in quoted(cells[1]) {
                    let (field, width) = match field.split_once(':') {
                        Some((f, w)) => (f, Some(w.parse::<u8>().unwrap())),
                        None => (field, None),
                    };
                    let found = hdr
                        .field(field)
                        .unwrap_or_else(|| panic!("`{name}` has no field `{field}` in the code"));
                    if let Some(width) = width {
                        assert_eq!(found.bits.map(|b| b.1), Some(width), "{name}.{field}");
                    }
                }
                // Next headers are the quoted words that are names (not `hlen * 4`).
                for next in quoted(cells[2]).into_iter().filter(|w| !w.contains(' ')) {
                    assert!(
                        hdr.next(next).is_some(),
                        "`{name}` does not lead to `{next}`"
                    );
                }
            }
        }
        for hdr in ALL {
            assert!(
                documented.contains(hdr),
                "`{}` is not documented",
                hdr.name()
            );
        }
    }
}
