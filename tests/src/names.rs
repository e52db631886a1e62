//! Probes whose map, program, struct and field names are Rust keywords (`tests/names/`), as
//! users see them: their bindings are compiled here, so a name that makes bindings that do not
//! compile fails the build of the tests crate.

ljbpf_runtime::include_probe!("keywords");

/// Names every generated item a keyword name makes, so rustc checks each one exists with the
/// expected spelling (`r#type`, `attach_loop`, `INSNS_TRY`, fields `r#match`).
pub fn keyword_items(p: &mut keywords::Probe) -> usize {
    let key = keywords::r#fn {
        r#type: 1,
        r#match: 2,
        r#gen: 3,
    };
    let value = keywords::r#impl {
        r: 0,
        r#async: 4,
        ..Default::default()
    };
    // Named, not called: attaching is not the point here.
    let _ = (
        keywords::Probe::r#type,
        keywords::Probe::r#match,
        keywords::Probe::r#gen,
    );
    let _ = (
        keywords::Probe::attach_loop,
        keywords::Probe::attach_try,
        keywords::Probe::attach_impl,
    );
    let _ = p.r#type().is_ok();
    keywords::INSNS_LOOP.len()
        + keywords::INSNS_TRY.len()
        + keywords::INSNS_IMPL.len()
        + usize::from(key != Default::default())
        + usize::from(value.r)
}
