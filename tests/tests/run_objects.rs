//! `ljbpf run` runs the objects `cargo build` embeds: for every probe this crate's `build.rs`
//! compiled, the CLI's path (`ljbpf_build::compile_file` with the CLI's default options, then
//! `ljbpf_cli::spec`, which `ljbpf run` hands to `Probe::load`) gives the same ELF bytes as the
//! object the build wrote next to the bindings.

use std::path::Path;

use ljbpf_build::Options;

#[test]
fn the_cli_loads_the_bytes_the_build_embeds() {
    let built = Path::new(env!("OUT_DIR")).join("ljbpf");
    let mut compared = 0;
    let mut names: Vec<_> = std::fs::read_dir(&built)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "o"))
        .collect();
    names.sort();
    for object in names {
        let stem = object.file_stem().unwrap().to_str().unwrap().to_owned();
        // The build compiled `corpus/NAME.lua` or `names/NAME.lua`, paths relative to this
        // crate, which is also where tests run.
        let Some(source) = ["corpus", "names"]
            .iter()
            .map(|dir| Path::new(dir).join(format!("{stem}.lua")))
            .find(|p| p.is_file())
        else {
            continue;
        };
        let probe = ljbpf_build::compile_file(&source, &Options::default())
            .unwrap_or_else(|d| panic!("{}: {d}", source.display()));
        let spec = ljbpf_cli::spec(&probe);
        let embedded = std::fs::read(&object).unwrap();
        assert!(
            spec.elf == embedded.as_slice(),
            "{}: ljbpf run would load other bytes than the build embeds",
            source.display()
        );
        compared += 1;
    }
    assert!(compared >= 20, "only {compared} objects compared");
}
