/* Twin of tests/corpus/loops.lua */
#include "common.h"
MAP(out, BPF_MAP_TYPE_ARRAY, __u32, __u64, 4);

SEC("socket") int p(struct __sk_buff *skb) {
  long s = 0;
  for (long i = 1; i <= 10; i++) s += i;
  for (long i = 10; i >= 1; i -= 3) s += i * 100;
  long n = load_byte(skb, 22); /* ip.ttl */
  long k = 0;
  while (n > 1 && k < 64) {
    if (lmod(n, 2) == 0) n = ldiv(n, 2); else n = 3 * n + 1;
    k++;
  }
  long j = 0;
  do j += 2; while (!(j >= 8));
  __u32 key = 0;
  __u64 v = s;
  bpf_map_update_elem(&out, &key, &v, BPF_ANY);
  key = 1;
  v = k;
  bpf_map_update_elem(&out, &key, &v, BPF_ANY);
  return s + j;
}
