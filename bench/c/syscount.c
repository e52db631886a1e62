/* Twin of tests/corpus/syscount.lua (and examples/probes/syscount.lua) */
#include "common.h"
MAP(config, BPF_MAP_TYPE_ARRAY, __u32, __u64, 1);
MAP(counts, BPF_MAP_TYPE_HASH, __u32, __u64, 1024);

struct sys_enter_ctx {
  __u64 common;
  long id;
  unsigned long args[6];
};

SEC("tracepoint/raw_syscalls/sys_enter") int on_enter(struct sys_enter_ctx *ctx) {
  __u32 zero = 0;
  __u64 *want = bpf_map_lookup_elem(&config, &zero);
  if (want && *want != 0 && (bpf_get_current_pid_tgid() >> 32) != *want) return 0;
  __u32 id = ctx->id;
  __u64 *n = bpf_map_lookup_elem(&counts, &id);
  if (n) {
    __sync_fetch_and_add(n, 1);
  } else {
    __u64 one = 1;
    bpf_map_update_elem(&counts, &id, &one, BPF_ANY);
  }
  return 0;
}
