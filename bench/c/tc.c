/* Twin of tests/corpus/tc.lua: direct packet access, a packet write, load_bytes, redirect. */
#include "common.h"
MAP(bytes, BPF_MAP_TYPE_ARRAY, __u32, __u64, 2);

SEC("classifier") int ingress(struct __sk_buff *skb) {
  __u32 zero = 0;
  __u64 *n = bpf_map_lookup_elem(&bytes, &zero);
  if (n) __sync_fetch_and_add(n, skb->len);
  unsigned char *p = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
  if (p + 14 > end) return 0;
  if (((p[12] << 8) | p[13]) != 0x0800) return 0;
  if (p + 23 > end) return 0;
  if (p[22] <= 1) return 2;
  __u8 buf[4] = {0};
  bpf_skb_load_bytes(skb, 26, buf, 4);
  if (buf[0] == 10 && skb->mark == 0) return bpf_redirect(skb->ifindex, 0);
  return 0;
}

SEC("classifier") int egress(struct __sk_buff *skb) {
  unsigned char *p = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
  if (p + 14 > end) return 0;
  if (((p[12] << 8) | p[13]) != 0x0800) return -1;
  if (p + 24 > end) return 0;
  if (p[23] != 17) return -1;
  unsigned char *l4 = p + 14 + (p[14] & 15) * 4;
  if (l4 + 4 > end) return 0;
  __u32 port = ((l4[2] << 8) | l4[3]) + 1;
  l4[2] = port >> 8;
  l4[3] = port;
  return 3;
}
