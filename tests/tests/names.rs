//! Probes named with Rust keywords load and run through their generated bindings.

use ljbpf_tests::kernel_ready;
use ljbpf_tests::names::keywords;

#[test]
fn keyword_named_probe_loads_and_runs() {
    if !kernel_ready("keyword_named_probe_loads_and_runs") {
        return;
    }
    let mut p = keywords::Probe::load().expect("the keyword-named probe loads");
    let run = p
        .test_run_impl(&ljbpf_tests::frame(0x0800, &[0; 20]))
        .unwrap();
    assert_eq!(run.retval, 1);
    assert!(ljbpf_tests::names::keyword_items(&mut p) > 0);
}
