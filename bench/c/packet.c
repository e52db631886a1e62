/* Twin of tests/corpus/packet.lua */
#include "common.h"
SEC("socket") int classify(struct __sk_buff *skb) {
  if (load_half(skb, 12) == 0x0800) {
    long proto = load_byte(skb, 23);
    if (proto == 6) {
      long ihl = (load_byte(skb, 14) & 15) * 4;
      long flags = load_byte(skb, ihl + 27);
      if ((flags >> 1 & 1) == 1 && (flags >> 4 & 1) == 0) return 2; /* SYN, not ACK */
      return load_half(skb, ihl + 16);                             /* tcp.dst_port */
    } else if (proto == 17) {
      long ihl = (load_byte(skb, 14) & 15) * 4;
      return load_half(skb, ihl + 16) + (load_byte(skb, 14) & 15); /* udp.dst_port + ip.hlen */
    }
    return load_byte(skb, 22);
  } else if (load_half(skb, 12) == 0x86dd) {
    return load_byte(skb, 20) + 1000; /* ip6.next_header */
  }
  return skb->len;
}
