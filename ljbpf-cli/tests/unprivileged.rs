//! "Build anywhere": as an unprivileged user with tracefs unmounted, `ljbpf compile` compiles
//! every example probe (`examples/probes/*.lua`) and every corpus probe (`tests/corpus/*.lua`)
//! from the running kernel's BTF alone, and the listings are byte-identical to the corpus
//! goldens and to what the tracefs format files give.
//!
//! Simulated without disturbing the machine: a private mount namespace (`unshare -m`) in which
//! tracefs is unmounted, and `su nobody` inside it. Needs root for that; without it the test
//! prints why it skips, unless `LJBPF_REQUIRE_KERNEL=1`.

use std::path::{Path, PathBuf};
use std::process::Command;

const LJBPF: &str = env!("CARGO_BIN_EXE_ljbpf");

fn skip(why: &str) {
    if std::env::var("LJBPF_REQUIRE_KERNEL").as_deref() == Ok("1") {
        panic!("build_anywhere: {why} (LJBPF_REQUIRE_KERNEL=1)");
    }
    println!("SKIP build_anywhere: {why}");
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(2))
            == Some("0")
    })
}

fn lua_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("probe directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "lua"))
        .collect();
    v.sort();
    v
}

fn run(cmd: &mut Command) -> std::process::Output {
    cmd.output().expect("runs")
}

#[test]
fn build_anywhere() {
    if !is_root() {
        return skip("needs root to unmount tracefs in a private namespace and become nobody");
    }
    if !Path::new("/sys/kernel/btf/vmlinux").exists() {
        return skip("the kernel has no BTF (/sys/kernel/btf/vmlinux)");
    }
    for tool in ["unshare", "su"] {
        if !run(Command::new("sh").args(["-c", &format!("command -v {tool}")]))
            .status
            .success()
        {
            return skip(&format!("no `{tool}`"));
        }
    }
    if !run(Command::new("id").arg("nobody")).status.success() {
        return skip("no user `nobody`");
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    // A world-readable copy of the binary and the probes: nobody cannot read the build tree.
    let work = std::env::temp_dir().join(format!("ljbpf-unprivileged-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    let mut probes = Vec::new();
    for (sub, dir) in [("ex", "examples/probes"), ("corpus", "tests/corpus")] {
        std::fs::create_dir_all(work.join(sub)).unwrap();
        std::fs::create_dir_all(work.join("out").join(sub)).unwrap();
        for f in lua_files(&root.join(dir)) {
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            std::fs::copy(&f, work.join(sub).join(&name)).unwrap();
            probes.push(format!("{sub}/{name}"));
        }
    }
    std::fs::copy(LJBPF, work.join("ljbpf")).unwrap();
    assert!(run(Command::new("chmod").arg("-R").arg("a+rwX").arg(&work))
        .status
        .success());

    // Inside: compile each probe to an object and dump its listing; report what failed.
    let mut script = String::from(
        "umount /sys/kernel/tracing 2>/dev/null; umount /sys/kernel/debug/tracing 2>/dev/null; \
         if [ -d /sys/kernel/tracing/events ]; then echo 'TRACEFS STILL MOUNTED'; exit 3; fi; \
         su nobody -s /bin/sh -c 'cd \"$0\" && [ \"$(id -u)\" != 0 ] || exit 4; s=0; ",
    );
    for p in &probes {
        let stem = p.trim_end_matches(".lua");
        script.push_str(&format!(
            "./ljbpf compile {p} -o out/{stem}.o || s=1; ./ljbpf dump {p} > out/{stem}.lst || s=1; "
        ));
    }
    script.push_str("exit $s' \"$W\"");
    let out = run(Command::new("unshare")
        .args(["-m", "sh", "-c", &script])
        .env("W", &work));
    assert!(
        out.status.success(),
        "compiling as nobody without tracefs failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let mut problems = Vec::new();
    let tracefs = Path::new("/sys/kernel/tracing/events");
    for p in &probes {
        let stem = p.trim_end_matches(".lua");
        let listing = std::fs::read(work.join("out").join(format!("{stem}.lst"))).unwrap();
        if !work.join("out").join(format!("{stem}.o")).is_file() {
            problems.push(format!("{p}: no object"));
        }
        if let Some(name) = stem.strip_prefix("corpus/") {
            let golden = std::fs::read(root.join("tests/corpus").join(format!("{name}.lst")));
            if golden.ok().as_deref() != Some(&listing[..]) {
                problems.push(format!("{p}: listing differs from tests/corpus/{name}.lst"));
            }
        }
        // The same probe from the format files (outside the namespace tracefs is mounted).
        if tracefs.join("sched").is_dir() {
            let t = run(Command::new(LJBPF)
                .arg("--events-dir")
                .arg(tracefs)
                .arg("dump")
                .arg(p)
                .current_dir(&work));
            // BTF-typed programs (tp_btf, fentry, fexit) need BTF, which a build that names
            // only format files must not read from the build machine: they are refused.
            let refused = !t.status.success()
                && String::from_utf8_lossy(&t.stderr).contains("from the kernel's BTF");
            if !refused && t.stdout != listing {
                problems.push(format!("{p}: BTF and tracefs listings differ"));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&work);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    println!("{} probes compiled as nobody without tracefs", probes.len());
}
