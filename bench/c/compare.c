/* Twin of tests/corpus/compare.lua */
#include "common.h"
MAP(counts, BPF_MAP_TYPE_ARRAY, __u32, __u64, 8);

SEC("socket") int compare(struct __sk_buff *skb) {
  long a = load_byte(skb, 22), b = load_byte(skb, 15); /* ip.ttl, ip.tos */
  long r = 0;
  if (a < b) r += 1;
  if (a <= b) r += 2;
  if (a > b) r += 4;
  if (a >= b) r += 8;
  if (a == b) r += 16;
  if (a != b) r += 32;
  if (!(a <= b)) r += 64;
  if (a - b < 0) r += 128;
  __u64 big = 0xffffffffffffffffULL;
  if (big > 1) r += 256;
  long m = a > 10 ? a : 5;
  int t = a == 64 && b == 0;
  if (t) r += 512;
  if (!t) r += 1024;
  __u32 k = 0;
  __u64 *v = bpf_map_lookup_elem(&counts, &k);
  if (!v) return 0;
  *v = m;
  return r;
}
