/* Twin of examples/probes/dnshist.lua */
#include "common.h"
MAP(config, BPF_MAP_TYPE_ARRAY, __u32, __u64, 1);
MAP(qtypes, BPF_MAP_TYPE_HASH, __u32, __u64, 1024);

SEC("socket") int dns(struct __sk_buff *skb) {
  long udp = (load_byte(skb, 14) & 15) * 4 + 14; /* the dissectors, taken first as in the Lua */
  long data = udp + 8;
  if (load_half(skb, 12) != 0x0800 || load_byte(skb, 23) != 17) return 0;
  __u32 zero = 0;
  __u64 *port = bpf_map_lookup_elem(&config, &zero);
  if (!port || load_half(skb, udp + 2) != *port) return 0;
  long off = 12;
  for (int i = 0; i < 10; i++) {
    long len = load_byte(skb, data + off);
    if (len == 0 || len >= 0xc0) break;
    off = off + len + 1;
  }
  if (load_byte(skb, data + off) != 0) return 0;
  __u32 qtype = load_half(skb, data + off + 1);
  __u64 *n = bpf_map_lookup_elem(&qtypes, &qtype);
  if (n) {
    __sync_fetch_and_add(n, 1);
  } else {
    __u64 one = 1;
    bpf_map_update_elem(&qtypes, &qtype, &one, BPF_ANY);
  }
  return 0;
}
