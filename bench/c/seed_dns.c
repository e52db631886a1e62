/* Twin of tests/corpus/seed_dns.lua */
#include "common.h"
MAP(map, BPF_MAP_TYPE_ARRAY, __u32, __u32, 256);

SEC("socket") int prog(struct __sk_buff *skb) {
  if (load_byte(skb, 23) != 17) return 0;             /* ip.proto ~= udp */
  long udp = (load_byte(skb, 14) & 15) * 4 + 14;       /* offset of the UDP header */
  if ((long)load_half(skb, udp + 4) < 12) return 0;    /* udp.length */
  long p = udp + 8 + 12;                               /* udp.data + 12 */
  long label = load_byte(skb, p);
  if (label > 0) {
    p = p + label + 1;
    label = load_byte(skb, p);
    if (label > 0) p = p + label + 1;
  }
  if (load_byte(skb, p) == 0) {
    __u32 qtype = load_byte(skb, p + 2);
    __u32 *v = bpf_map_lookup_elem(&map, &qtype);
    if (v) __sync_fetch_and_add(v, 1);
  }
  return 0;
}
