/* Twin of examples/probes/sockproto.lua */
#include "common.h"
struct proto_stats {
  __u64 packets;
  __u64 bytes;
};
MAP(stats, BPF_MAP_TYPE_HASH, __u32, struct proto_stats, 256);

SEC("socket") int count(struct __sk_buff *skb) {
  long ethertype = load_half(skb, 12);
  __u32 proto;
  if (ethertype == 0x0800) proto = load_byte(skb, 23);
  else if (ethertype == 0x86dd) proto = load_byte(skb, 20);
  else return 0;
  struct proto_stats *s = bpf_map_lookup_elem(&stats, &proto);
  if (s) {
    __sync_fetch_and_add(&s->packets, 1);
    __sync_fetch_and_add(&s->bytes, skb->len);
  } else {
    struct proto_stats v = {1, skb->len};
    bpf_map_update_elem(&stats, &proto, &v, BPF_ANY);
  }
  return 0;
}
