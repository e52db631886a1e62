//! A `main` that returns `Result`, as the README shows, loading a probe the verifier rejects
//! (`rejected/toolong.lua`, whose verifier log is megabytes long): what it prints through `?`
//! is what a user sees. `tests/runtime_errors.rs` runs it.

ljbpf_runtime::include_probe!("toolong");

fn main() -> Result<(), ljbpf_runtime::Error> {
    let mut probe = toolong::Probe::load()?;
    probe.attach_all()?;
    Ok(())
}
