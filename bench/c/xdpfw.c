/* Twin of examples/probes/xdpfw.lua: direct packet access with a bounds check per read. */
#include "common.h"
struct fw_stats {
  __u64 packets;
  __u64 dropped;
};
MAP(stats, BPF_MAP_TYPE_PERCPU_ARRAY, __u32, struct fw_stats, 257);
MAP(blocked, BPF_MAP_TYPE_HASH, __u16, __u8, 1024);

SEC("xdp") int fw(struct xdp_md *ctx) {
  unsigned char *p = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
  if (p + 14 > end) return XDP_PASS;
  __u32 ethertype = (p[12] << 8) | p[13];
  __u32 proto = 256;
  long port = -1;
  if (ethertype == 0x0800) {
    if (p + 24 > end) return XDP_PASS;
    proto = p[23];
    if (proto == 6 || proto == 17) {
      unsigned char *l4 = p + 14 + (p[14] & 15) * 4;
      if (l4 + 4 > end) return XDP_PASS;
      port = (l4[2] << 8) | l4[3];
    }
  } else if (ethertype == 0x86dd) {
    if (p + 21 > end) return XDP_PASS;
    proto = p[20];
    if (proto == 6 || proto == 17) {
      if (p + 58 > end) return XDP_PASS;
      port = (p[56] << 8) | p[57];
    }
  }
  struct fw_stats *s = bpf_map_lookup_elem(&stats, &proto);
  if (!s) return XDP_PASS;
  __sync_fetch_and_add(&s->packets, 1);
  if (port >= 0) {
    __u16 k = port;
    if (bpf_map_lookup_elem(&blocked, &k)) {
      __sync_fetch_and_add(&s->dropped, 1);
      return XDP_DROP;
    }
  }
  return XDP_PASS;
}
