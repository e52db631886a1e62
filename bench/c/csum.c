/* Twin of bench/lua/csum.lua: the compute-heavy filter (a bounded loop over 64 payload bytes). */
#include "common.h"
SEC("socket") int csum(struct __sk_buff *skb) {
  long data = (load_byte(skb, 14) & 15) * 4 + 22; /* pkt.ip.udp.data */
  long s1 = 0, s2 = 0, n = 0;
  for (long i = 0; i <= 63; i++) {
    long b = load_byte(skb, data + i);
    s1 = s1 + b;
    s2 = s2 + s1;
    if (b == 0x41) n = n + 1;
  }
  return s1 + s2 + n * 1000000;
}
