//! Every map type the probe language offers is created by the kernel when a probe loads.

use ljbpf_tests::{compile_ok, kernel_ready, load};

const PROBE: &str = r#"
ffi.cdef[[ struct lpm_key { uint32_t prefixlen; uint32_t addr; }; ]]
local maps = {
  hash = bpf.map('hash', 16),
  array = bpf.map('array', 16),
  percpu_hash = bpf.map('percpu_hash', 16),
  percpu_array = bpf.map('percpu_array', 16),
  lru_hash = bpf.map('lru_hash', 16),
  lru_percpu_hash = bpf.map('lru_percpu_hash', 16),
  perf_event_array = bpf.map('perf_event_array'),
  stack_trace = bpf.map('stack_trace', 16),
  prog_array = bpf.map('prog_array', 4),
  cgroup_array = bpf.map('cgroup_array', 4),
  devmap = bpf.map('devmap', 4),
  sockmap = bpf.map('sockmap', 4),
  lpm_trie = bpf.map('lpm_trie', 16, 'struct lpm_key', 'uint32_t'),
  ringbuf = bpf.map('ringbuf', 4096),
}
maps.prog = bpf.tracepoint('syscalls/sys_enter_getpid', function (ctx) end)
return maps
"#;

#[test]
fn every_map_type_is_created() {
    if !kernel_ready("every_map_type_is_created") {
        return;
    }
    let probe = compile_ok("maps.lua", PROBE);
    assert_eq!(probe.maps.len(), 14);
    let loaded = load(&probe);
    for m in &probe.maps {
        let map = loaded
            .map(&m.name)
            .unwrap_or_else(|e| panic!("{}: {e}", m.name));
        let _ = map;
    }
}
