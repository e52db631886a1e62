/* Twin of tests/corpus/seed_http.lua: the key is the 4 payload bytes as a little-endian u32
 * (LuaJIT's data(0, 4) string compared with 'HTTP' etc.). */
#include "common.h"
MAP(map, BPF_MAP_TYPE_HASH, __u32, __u32, 64);

#define W(s) ((__u32)(s)[0] | (__u32)(s)[1] << 8 | (__u32)(s)[2] << 16 | (__u32)(s)[3] << 24)

SEC("socket") int prog(struct __sk_buff *skb) {
  if (skb->ingress_ifindex == 0) return 0;
  long ihl = (load_byte(skb, 14) & 15) * 4;
  long data = ((load_byte(skb, ihl + 26) >> 4) & 15) * 4 + ihl + 14; /* pkt.ip.tcp.data */
  if (data + 7 > (long)skb->len) return 0;
  __u32 h = __builtin_bswap32((__u32)load_word(skb, data));
  if (h == W("HTTP") || h == W("GET ") || h == W("POST") || h == W("PUT ") || h == W("HEAD") ||
      h == W("DELE")) {
    __u32 *v = bpf_map_lookup_elem(&map, &h);
    if (!v) {
      __u32 one = 1;
      bpf_map_update_elem(&map, &h, &one, BPF_ANY);
    } else {
      v = bpf_map_lookup_elem(&map, &h); /* the Lua looks it up again: xadd(map[h], 1) */
      if (v) __sync_fetch_and_add(v, 1);
    }
  }
  return 0;
}
