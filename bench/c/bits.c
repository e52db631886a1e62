/* Twin of tests/corpus/bits.lua: bit ops on numbers are LuaJIT's (int32 results, sign-extended). */
#include "common.h"
MAP(out, BPF_MAP_TYPE_ARRAY, __u32, __u64, 4);

SEC("socket") int bits(struct __sk_buff *skb) {
  long a = load_byte(skb, 22), b = load_byte(skb, 23);
  int x = ((int)a | 0xf0) & ~(int)b;
  long y = (long)(int)((unsigned)a << 4) + (long)(int)((unsigned)b >> 1) +
           (long)((int)(-a) >> 2) + (long)((int)a ^ (int)b);
  int t = (int)((unsigned)a >> 1) >> 1;
  int z = ((int)a & 0x0f) | ((int)((unsigned)b << 8) ^ t);
  int n = ~(int)a;
  __u64 wide = bpf_get_current_pid_tgid() >> 32;
  __u32 k = 0;
  __u64 v = wide & 0xffff;
  bpf_map_update_elem(&out, &k, &v, BPF_ANY);
  k = 1;
  v = (__u64)(long)(~x & 0xff);
  bpf_map_update_elem(&out, &k, &v, BPF_ANY);
  return (long)x + y + (long)z + (long)n;
}
