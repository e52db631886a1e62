//! The `build.rs` side: compile probe files into `$OUT_DIR/ljbpf/` and tell cargo about them.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::artifact::Options;
use crate::driver::compile_file;

/// How many errors of one probe file a build prints; the rest are counted.
const MAX_ERRORS_SHOWN: usize = 20;

/// Compiles each probe file for a `build.rs` with default options; on any error prints the
/// diagnostics as `cargo::error=` lines (see [`Builder::build_or_exit`]) and ends the build
/// script.
///
/// ```no_run
/// // build.rs
/// ljbpf_build::compile_probes(&["probes/syscount.lua"]);
/// ```
pub fn compile_probes<P: AsRef<Path>>(files: &[P]) {
    let mut b = Builder::new();
    for f in files {
        b = b.probe(f.as_ref());
    }
    b.build_or_exit();
}

/// Options for compiling probe files from a `build.rs`.
#[derive(Clone, Debug, Default)]
pub struct Builder {
    files: Vec<PathBuf>,
    dirs: Vec<PathBuf>,
    opts: Options,
    out_dir: Option<PathBuf>,
}

/// What [`Builder::build`] wrote for one probe.
#[derive(Clone, Debug)]
pub struct Built {
    /// Probe name (file stem).
    pub name: String,
    /// The bindings module file.
    pub bindings: PathBuf,
    /// The ELF object.
    pub object: PathBuf,
    /// The listing.
    pub listing: PathBuf,
    /// Compile time in milliseconds.
    pub millis: f64,
}

impl Builder {
    /// A builder with no probes.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Adds a probe file.
    pub fn probe(mut self, path: impl Into<PathBuf>) -> Builder {
        self.files.push(path.into());
        self
    }

    /// Adds every `*.lua` file of a directory (sorted by name).
    pub fn probe_dir(mut self, dir: impl Into<PathBuf>) -> Builder {
        self.dirs.push(dir.into());
        self
    }

    /// Reads tracepoint formats from `dir` (`<dir>/<category>/<name>/format`) instead of the
    /// running kernel's BTF and tracefs (or `$LJBPF_TRACEFS_EVENTS`).
    pub fn events_dir(mut self, dir: impl Into<PathBuf>) -> Builder {
        self.opts.events_dir = Some(dir.into());
        self
    }

    /// The BPF instruction-set level to emit (default [`Isa::V3`](ljbpf_core::insn::Isa::V3),
    /// which every kernel from 5.1 loads; v4 needs Linux 6.6).
    pub fn isa(mut self, isa: ljbpf_core::insn::Isa) -> Builder {
        self.opts.isa = isa;
        self
    }

    /// Takes tracepoint layouts from this BTF file (a copy of a kernel's
    /// `/sys/kernel/btf/vmlinux`) instead of the running kernel's (or `$LJBPF_BTF`).
    pub fn btf(mut self, file: impl Into<PathBuf>) -> Builder {
        self.opts.btf = Some(file.into());
        self
    }

    /// Writes outputs to `dir/ljbpf/` instead of `$OUT_DIR/ljbpf/`.
    pub fn out_dir(mut self, dir: impl Into<PathBuf>) -> Builder {
        self.out_dir = Some(dir.into());
        self
    }

    fn all_files(&self) -> Result<Vec<PathBuf>, String> {
        let mut files = self.files.clone();
        for d in &self.dirs {
            println!("cargo:rerun-if-changed={}", d.display());
            let rd = std::fs::read_dir(d)
                .map_err(|e| format!("cannot read probe directory {}: {e}", d.display()))?;
            let mut found: Vec<PathBuf> = rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "lua"))
                .collect();
            found.sort();
            files.extend(found);
        }
        Ok(files)
    }

    /// Compiles every probe and writes `<name>.rs`, `<name>.o`, `<name>.lst`. Prints
    /// `cargo:rerun-if-changed` for every input. Returns all diagnostics as text on failure.
    pub fn build(&self) -> Result<Vec<Built>, String> {
        let out = match &self.out_dir {
            Some(d) => d.clone(),
            None => PathBuf::from(
                std::env::var_os("OUT_DIR")
                    .ok_or("OUT_DIR is not set: call this from a build.rs")?,
            ),
        }
        .join("ljbpf");
        std::fs::create_dir_all(&out)
            .map_err(|e| format!("cannot create {}: {e}", out.display()))?;
        println!(
            "cargo:rerun-if-env-changed={}",
            crate::tracepoint::EVENTS_DIR_ENV
        );
        println!("cargo:rerun-if-env-changed={}", crate::kernel::BTF_ENV);
        let mut built = Vec::new();
        let mut errors = Vec::new();
        for f in self.all_files()? {
            println!("cargo:rerun-if-changed={}", f.display());
            let t = Instant::now();
            match compile_file(&f, &self.opts) {
                Ok(p) => {
                    for i in &p.inputs {
                        println!("cargo:rerun-if-changed={}", i.display());
                    }
                    let b = Built {
                        name: p.name.clone(),
                        bindings: out.join(format!("{}.rs", p.name)),
                        object: out.join(format!("{}.o", p.name)),
                        listing: out.join(format!("{}.lst", p.name)),
                        millis: t.elapsed().as_secs_f64() * 1000.0,
                    };
                    write_if_changed(&b.object, &p.elf)?;
                    write_if_changed(&b.listing, p.listing.as_bytes())?;
                    write_if_changed(&b.bindings, p.bindings.as_bytes())?;
                    built.push(b);
                }
                Err(d) => errors.push(d.capped(MAX_ERRORS_SHOWN)),
            }
        }
        if errors.is_empty() {
            Ok(built)
        } else {
            Err(errors.join("\n"))
        }
    }

    /// [`Builder::build`] for a build script: each line of the diagnostics becomes a
    /// `cargo::error=` line, which cargo prints once as `error: <crate>: <line>` and which fails
    /// the build; then the build script ends.
    ///
    /// The script ends with status 0 on purpose: on a non-zero status cargo would also repeat
    /// the script's whole stdout (every diagnostic a second time, among the `rerun-if-changed`
    /// lines) under "failed to run custom build command".
    pub fn build_or_exit(&self) -> Vec<Built> {
        match self.build() {
            Ok(b) => b,
            Err(text) => {
                for line in error_lines(&text) {
                    println!("{line}");
                }
                std::process::exit(0);
            }
        }
    }
}

/// Diagnostics as `cargo::error=` lines. Cargo reads every line of a build script's stdout
/// that starts with `cargo:` as a directive, so each line of the text gets the prefix and any
/// other control character (a `\r`, an escape sequence) is escaped: whatever a probe file makes
/// a message say, it stays an error message.
fn error_lines(text: &str) -> Vec<String> {
    text.split('\n')
        .filter(|l| !l.is_empty())
        .map(|line| {
            let mut out = String::from("cargo::error=");
            for c in line.chars() {
                if c.is_control() {
                    out.extend(c.escape_default());
                } else {
                    out.push(c);
                }
            }
            out
        })
        .collect()
}

/// Leaves a file untouched when its content is the same, so cargo does not rebuild what
/// includes it.
fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<(), String> {
    if std::fs::read(path).ok().as_deref() == Some(bytes) {
        return Ok(());
    }
    std::fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::error_lines;

    #[test]
    fn no_diagnostic_makes_a_directive() {
        let text = "a.lua:1: error: x\ncargo:rustc-link-arg=-evil\r\ncargo:rustc-env=A=1\rcargo:x";
        for line in error_lines(text) {
            assert!(line.starts_with("cargo::error="), "{line}");
            assert!(!line.contains(['\r', '\n']), "{line:?}");
        }
    }
}
