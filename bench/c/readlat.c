/* Twin of examples/probes/readlat.lua; log2 as libbpf-tools' bits.bpf.h writes it. */
#include "common.h"
MAP(config, BPF_MAP_TYPE_ARRAY, __u32, __u64, 1);
MAP(start, BPF_MAP_TYPE_HASH, __u64, __u64, 10240);
MAP(hist, BPF_MAP_TYPE_ARRAY, __u32, __u64, 64);

static __always_inline __u64 log2(__u32 v) {
  __u32 shift, r;
  r = (v > 0xFFFF) << 4; v >>= r;
  shift = (v > 0xFF) << 3; v >>= shift; r |= shift;
  shift = (v > 0xF) << 2; v >>= shift; r |= shift;
  shift = (v > 0x3) << 1; v >>= shift; r |= shift;
  r |= (v >> 1);
  return r;
}
static __always_inline __u64 log2l(__u64 v) {
  __u32 hi = v >> 32;
  if (hi) return log2(hi) + 32;
  return log2(v);
}

SEC("tracepoint/syscalls/sys_enter_read") int on_enter(void *ctx) {
  __u64 id = bpf_get_current_pid_tgid();
  __u32 zero = 0;
  __u64 *want = bpf_map_lookup_elem(&config, &zero);
  if (want && *want != 0 && (id >> 32) != *want) return 0;
  __u64 t = bpf_ktime_get_ns();
  bpf_map_update_elem(&start, &id, &t, BPF_ANY);
  return 0;
}

SEC("tracepoint/syscalls/sys_exit_read") int on_exit(void *ctx) {
  __u64 id = bpf_get_current_pid_tgid();
  __u64 *t0 = bpf_map_lookup_elem(&start, &id);
  if (!t0) return 0;
  __u64 delta = bpf_ktime_get_ns() - *t0;
  bpf_map_delete_elem(&start, &id);
  __u32 slot = log2l(delta / 1000);
  __u64 *n = bpf_map_lookup_elem(&hist, &slot);
  if (n) __sync_fetch_and_add(n, 1);
  return 0;
}
