/* Twin of tests/corpus/andor.lua */
#include "common.h"
MAP(out, BPF_MAP_TYPE_ARRAY, __u32, __s64, 4);

static __always_inline void put(__u32 k, __s64 v) { bpf_map_update_elem(&out, &k, &v, BPF_ANY); }

SEC("socket") int andor(struct __sk_buff *skb) {
  long a = load_byte(skb, 22), b = load_byte(skb, 23); /* ip.ttl, ip.proto */
  long big = a > 100 ? b : 0;
  long small = (a < 10 || b == 6) ? 1 : 2;
  int neg = !(a == b);
  long level;
  if (a > 200) level = 3;
  else if (a > 100) level = 2;
  else if (a > 50 && b != 17) level = 1;
  else level = 0;
  if (neg) level = level + 10;
  long x = a; /* a or 5: a number is always true */
  put(0, big);
  put(1, small);
  put(2, level);
  put(3, x - 1000);
  return level;
}
