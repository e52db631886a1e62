//! BTF in every object: the objects `ljbpf compile` writes load with a standard loader
//! (libbpf, through `bpftool prog loadall`), carry Lua line info the kernel shows (bpftool's
//! `linum` dumps, the verifier's own log), typed maps bpftool prints by field, and parse with
//! aya-obj's BTF parser.
//!
//! Kernel tests skip with a printed reason unless root (or fail under
//! `LJBPF_REQUIRE_KERNEL=1`); they also need bpftool (`matrix/setup` installs it).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use aya_obj::maps::Map;
use ljbpf_build::{compile_file, CompiledProbe, Options};
use ljbpf_tests::{compile_ok, kernel_ready, root, ALL_MAP_KINDS};
use object::{Object as _, ObjectSection as _};

/// Every probe file of the corpus and the examples.
fn probe_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in [root().join("corpus"), root().join("../examples/probes")] {
        let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("dir entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "lua"))
            .collect();
        found.sort();
        files.extend(found);
    }
    files
}

fn compile(path: &Path) -> CompiledProbe {
    compile_file(path, &Options::default())
        .unwrap_or_else(|d| panic!("{} does not compile:\n{d}", path.display()))
}

/// bpftool, or `None` (with a printed reason; a failure under `LJBPF_REQUIRE_KERNEL=1`).
fn bpftool(test: &str) -> Option<&'static str> {
    if !kernel_ready(test) {
        return None;
    }
    let found = ["/usr/sbin/bpftool", "/sbin/bpftool", "/usr/bin/bpftool"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    if found.is_none() {
        if std::env::var("LJBPF_REQUIRE_KERNEL").as_deref() == Ok("1") {
            panic!("{test}: needs bpftool (matrix/setup installs it), and LJBPF_REQUIRE_KERNEL=1");
        }
        eprintln!("skipping {test}: bpftool is not installed");
    }
    found
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A bpffs directory (and a scratch object path) removed on drop, pins included.
struct Pins {
    dir: PathBuf,
    object: PathBuf,
}

impl Pins {
    fn new(name: &str, elf: &[u8]) -> Self {
        ljbpf_runtime::ensure_bpffs().expect("bpffs");
        let tag = format!("ljbpf-btf-{name}-{}", std::process::id());
        let dir = Path::new("/sys/fs/bpf").join(&tag);
        let _ = std::fs::remove_dir_all(&dir);
        let object = std::env::temp_dir().join(format!("{tag}.o"));
        std::fs::write(&object, elf).expect("write object");
        Self { dir, object }
    }

    fn sub(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for Pins {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_file(&self.object);
    }
}

/// `bpftool prog loadall OBJ DIR/progs pinmaps DIR/maps`.
fn loadall(bpftool: &str, pins: &Pins) -> Output {
    std::fs::create_dir_all(&pins.dir).expect("pin dir");
    run(Command::new(bpftool)
        .args(["prog", "loadall"])
        .arg(&pins.object)
        .arg(pins.sub("progs"))
        .arg("pinmaps")
        .arg(pins.sub("maps")))
}

#[test]
fn bpftool_loads_every_object() {
    let Some(bpftool) = bpftool("bpftool_loads_every_object") else {
        return;
    };
    let mut failures = Vec::new();
    let files = probe_files();
    assert!(files.len() > 20, "{files:?}");
    for file in &files {
        let probe = compile(file);
        let pins = Pins::new(&probe.name, &probe.elf);
        let out = loadall(bpftool, &pins);
        if !out.status.success() {
            // fentry/fexit on a kernel that cannot attach BPF trampolines (this host's): the
            // runtime says so, and the kernel matrix's guests load them.
            let refused = ljbpf_runtime::check(ljbpf_cli::spec(&probe)).is_ok_and(|rows| {
                rows.iter()
                    .any(|r| matches!(r.verdict, Err(ljbpf_runtime::Error::NoTrampoline { .. })))
            });
            if refused {
                eprintln!("{}: this kernel refuses BPF trampolines", file.display());
                continue;
            }
            failures.push(format!("{}: {}", file.display(), text(&out)));
            continue;
        }
        let pinned = std::fs::read_dir(pins.sub("progs"))
            .map(|d| d.count())
            .unwrap_or(0);
        if pinned != probe.programs.len() {
            failures.push(format!(
                "{}: {pinned} programs pinned, {} compiled",
                file.display(),
                probe.programs.len()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn bpftool_dump_names_lua_lines() {
    let Some(bpftool) = bpftool("bpftool_dump_names_lua_lines") else {
        return;
    };
    let path = root().join("corpus/structs.lua");
    let probe = compile(&path);
    let pins = Pins::new("linum", &probe.elf);
    let out = loadall(bpftool, &pins);
    assert!(out.status.success(), "{}", text(&out));
    let program = &probe.programs[0];
    let out = run(Command::new(bpftool)
        .args(["prog", "dump", "xlated", "pinned"])
        .arg(pins.sub("progs").join(&program.name))
        .arg("linum"));
    assert!(out.status.success(), "{}", text(&out));
    let dump = text(&out);
    // e.g. `; k.pid = bit.rshift(pid_tgid(), 32) [file:.../structs.lua line_num:14 line_col:0]`
    let file = format!("file:{}", path.display());
    assert!(dump.contains(&file), "{dump}");
    let source = std::fs::read_to_string(&path).expect("read probe");
    let (line, text_of_line) = source
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains("k.pid ="))
        .expect("a k.pid line");
    assert!(
        dump.lines().any(|l| l.starts_with("; ")
            && l.contains(text_of_line.trim())
            && l.contains(&format!("line_num:{}", line + 1))),
        "{dump}"
    );
    assert!(
        dump.contains(&format!("int {}(void * ctx):", program.name)),
        "the FUNC's prototype: {dump}"
    );
}

#[test]
fn bpftool_prints_struct_keys_by_field() {
    let Some(bpftool) = bpftool("bpftool_prints_struct_keys_by_field") else {
        return;
    };
    let probe = compile(&root().join("corpus/structs.lua"));
    let pins = Pins::new("mapdump", &probe.elf);
    let out = loadall(bpftool, &pins);
    assert!(out.status.success(), "{}", text(&out));
    let stats = pins.sub("maps").join("stats");
    // struct key_t { uint32_t pid; uint32_t cpu; } -> struct stat_t (24 bytes).
    let mut update = Command::new(bpftool);
    update.args(["map", "update", "pinned"]).arg(&stats);
    update.args(["key", "hex", "01", "00", "00", "00", "02", "00", "00", "00"]);
    update.args(["value", "hex"]);
    update.args((0..24).map(|i| format!("{:02x}", if i % 8 == 0 { i / 8 + 3 } else { 0 })));
    let out = run(&mut update);
    assert!(out.status.success(), "{}", text(&out));
    let out = run(Command::new(bpftool)
        .args(["map", "dump", "pinned"])
        .arg(&stats));
    assert!(out.status.success(), "{}", text(&out));
    let dump = text(&out);
    for field in [
        "\"pid\": 1",
        "\"cpu\": 2",
        "\"calls\": 3",
        "\"last\": 4",
        "\"max_fd\": 5",
    ] {
        assert!(dump.contains(field), "{field} in {dump}");
    }
}

#[test]
fn kernel_verifier_log_names_lua_lines() {
    if !kernel_ready("kernel_verifier_log_names_lua_lines") {
        return;
    }
    // Socket filters may not call bpf_get_stackid (net/core/filter.c, sk_filter_func_proto):
    // it compiles, and the verifier rejects it at line 5 after walking line 4.
    let source = "\
local stacks = bpf.map('stack_trace', 16)
return {
  far = bpf.socket(function (skb)
    local x = pkt.ip.ttl
    local id = stack_id(stacks, 0)
    if x ~= 7 then
      return 0
    end
    return id
  end),
}
";
    let probe = ljbpf_build::compile_source(Path::new("probe.lua"), source, &Options::default())
        .unwrap_or_else(|d| panic!("does not compile:\n{d}"));
    let err = match ljbpf_runtime::Probe::load(ljbpf_cli::spec(&probe)) {
        Ok(_) => panic!("the verifier accepted bpf_get_stackid in a socket filter"),
        Err(ljbpf_runtime::Error::Verifier { source }) => source,
        Err(e) => panic!("not a verifier error: {e}"),
    };
    // The kernel prints the line record of each instruction it walks:
    // `; local x = pkt.ip.ttl @ probe.lua:4` (newer kernels add ` @ file:line`, older ones
    // print the text alone).
    let log = &err.log;
    for (text, at) in [
        ("; local x = pkt.ip.ttl", " @ probe.lua:4"),
        ("; local id = stack_id(stacks, 0)", " @ probe.lua:5"),
    ] {
        let line = log
            .lines()
            .find(|l| l.starts_with(text))
            .unwrap_or_else(|| panic!("no `{text}` in the kernel's log:\n{log}"));
        assert!(!line.contains(" @ ") || line.ends_with(at), "{line}");
    }
    assert!(log.contains("cannot use helper bpf_get_stackid"), "{log}");
}

#[test]
fn objects_round_trip_through_aya_obj() {
    let probe = compile(&root().join("corpus/structs.lua"));
    let file = object::File::parse(&*probe.elf).expect("elf");
    let btf_section = file.section_by_name(".BTF").expect(".BTF");
    let btf = aya_obj::btf::Btf::parse(
        btf_section.data().expect("data"),
        object::Endianness::Little,
    )
    .expect("aya-obj parses .BTF");
    for name in ["key_t", "stat_t", "on_write", ".maps", "stats", "seen"] {
        assert!(
            btf.id_by_type_name_kind(name, kind_of(name)).is_ok(),
            "{name} in BTF"
        );
    }

    let obj = aya_obj::Object::parse(&probe.elf).expect("aya-obj parses the object");
    let Some(map @ Map::Btf(stats)) = obj.maps.get("stats") else {
        panic!("stats is not a BTF map: {:?}", obj.maps.get("stats"));
    };
    assert_eq!(
        (map.key_size(), map.value_size(), map.max_entries()),
        (8, 24, 256)
    );
    assert_ne!(stats.def.btf_key_type_id, 0);
    assert_ne!(stats.def.btf_value_type_id, 0);
    let function = obj
        .functions
        .values()
        .find(|f| f.name == "on_write")
        .expect("on_write");
    assert_eq!(function.func_info.func_info.len(), 1);
    assert_eq!(function.func_info.func_info[0].insn_off, 0);
    assert!(function.line_info.line_info.len() > 3);
    assert_eq!(function.line_info.line_info[0].insn_off, 0);
}

fn kind_of(name: &str) -> aya_obj::btf::BtfKind {
    use aya_obj::btf::BtfKind;
    match name {
        "key_t" | "stat_t" => BtfKind::Struct,
        "on_write" => BtfKind::Func,
        ".maps" => BtfKind::DataSec,
        _ => BtfKind::Var,
    }
}

/// Every map kind of the probe language in one probe (as `tests/maps.rs`, which loads it
/// through aya): libbpf creates them all from the `.maps` definitions too.
#[test]
fn bpftool_creates_every_map_kind() {
    let Some(bpftool) = bpftool("bpftool_creates_every_map_kind") else {
        return;
    };
    let probe = compile_ok("maps.lua", ALL_MAP_KINDS);
    let obj = aya_obj::Object::parse(&probe.elf).expect("aya-obj parses the object");
    match obj.maps.get("lpm_trie") {
        Some(map @ Map::Btf(def)) => {
            // BPF_F_NO_PREALLOC, and the struct key typed (trie_check_btf wants a struct).
            assert_eq!(map.map_flags(), 1);
            assert_ne!(def.def.btf_key_type_id, 0);
        }
        other => panic!("lpm_trie: {other:?}"),
    }
    let pins = Pins::new("maps", &probe.elf);
    let out = loadall(bpftool, &pins);
    assert!(out.status.success(), "{}", text(&out));
    let mut created: Vec<String> = std::fs::read_dir(pins.sub("maps"))
        .expect("pinned maps")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    created.sort();
    assert_eq!(created.len(), 14, "{created:?}");
}

/// Map kinds without key/value BTF (ring buffers, perf event arrays, stack traces) still load
/// through aya, and their sizes are what the runtime reads.
#[test]
fn keyless_maps_parse_with_sizes() {
    let probe = compile(&root().join("corpus/events.lua"));
    let obj = aya_obj::Object::parse(&probe.elf).expect("aya-obj parses the object");
    let size = |name: &str| match obj.maps.get(name) {
        Some(map @ Map::Btf(m)) => (map.key_size(), map.value_size(), m.def.btf_key_type_id),
        other => panic!("{name}: {other:?}"),
    };
    assert_eq!(size("events"), (4, 4, 0));
    assert_eq!(size("ring"), (0, 0, 0));
    assert_eq!(size("stacks"), (4, 8 * 127, 0));
    let _ = compile_ok(
        "x.lua",
        "return { f = bpf.socket(function (skb) return 0 end) }",
    );
}
