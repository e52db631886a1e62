//! Every map type the probe language offers is created by the kernel when a probe loads.

use ljbpf_tests::{compile_ok, kernel_ready, load, ALL_MAP_KINDS};

#[test]
fn every_map_type_is_created() {
    if !kernel_ready("every_map_type_is_created") {
        return;
    }
    let probe = compile_ok("maps.lua", ALL_MAP_KINDS);
    assert_eq!(probe.maps.len(), 14);
    let loaded = load(&probe);
    for m in &probe.maps {
        let map = loaded
            .map(&m.name)
            .unwrap_or_else(|e| panic!("{}: {e}", m.name));
        let _ = map;
    }
}
