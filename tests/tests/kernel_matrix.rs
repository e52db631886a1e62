//! The kernel matrix: the host-built release binaries (the example tools, `ljbpf`, and the
//! driver `src/bin/matrix_guest.rs`) run in qemu guests booting Debian 12's stock 6.1 and 6.12
//! kernels, and on the host, and every result must be the one `matrix/expected.txt` records.
//!
//! `matrix/setup` downloads the kernels into `$LJBPF_MATRIX_DIR` (default `target/matrix`);
//! without them this test skips with a printed reason, or fails under
//! `LJBPF_REQUIRE_KERNEL=1`. A result that differs from its expectation fails the test, an
//! unexpected pass too (the fix that made it pass should update the file):
//! `LJBPF_BLESS=1 cargo nextest run -p ljbpf-tests --test kernel_matrix` rewrites
//! `matrix/expected.txt` from the results.
//!
//! Each guest is booted once (`matrix/mkinitramfs` packs the binaries, their libraries,
//! busybox, bash and bpftool; `matrix/init` mounts proc, sysfs, devtmpfs, tracefs, debugfs and
//! bpffs, brings up `lo` and runs the driver) and reports on its serial console. The consoles,
//! the host's output and the table of all results are kept in the cache directory
//! (`6.1.log`, `6.12.log`, `host.log`, `report.txt`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ljbpf_tests::BLESS_ENV;

/// The guests' kernels: directories of the cache made by `matrix/setup`.
const KERNELS: [&str; 2] = ["6.1", "6.12"];
/// The column of the machine the test runs on.
const HOST: &str = "host";
/// A guest boots and runs everything in about a minute under TCG; a hung guest must not hang
/// CI.
const TIMEOUT: Duration = Duration::from_secs(300);

/// The header of `matrix/expected.txt`, kept when the file is rewritten.
const HEADER: &str = "\
# Expected results of the kernel matrix (tests/tests/kernel_matrix.rs): `KERNEL TEST PASS|FAIL`.
# KERNEL is a Debian kernel series booted in qemu (see matrix/setup) or `host`, the machine the
# tests run on (CI's). Any difference fails the test, an unexpected PASS too: when a fix makes
# a test pass, rewrite this file with
#   LJBPF_BLESS=1 cargo nextest run -p ljbpf-tests --test kernel_matrix
# and commit it with the fix.
";

/// One result: PASS or FAIL and the driver's detail (duration, failure message).
#[derive(Clone, Debug)]
struct Outcome {
    verdict: String,
    detail: String,
}

#[test]
fn host_built_binaries_on_every_kernel() {
    let started = Instant::now();
    let repo = ljbpf_tests::root()
        .parent()
        .expect("the repository")
        .to_path_buf();
    let cache = std::env::var_os("LJBPF_MATRIX_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo.join("target/matrix"));
    let require = std::env::var("LJBPF_REQUIRE_KERNEL").as_deref() == Ok("1");
    let missing: Vec<&str> = KERNELS
        .iter()
        .copied()
        .filter(|k| !cache.join("kernels").join(k).join("vmlinuz").is_file())
        .collect();
    if !missing.is_empty() {
        let reason = format!(
            "no kernel image for {missing:?} in {}: run matrix/setup",
            cache.join("kernels").display()
        );
        if require {
            panic!("{reason} (LJBPF_REQUIRE_KERNEL=1)");
        }
        eprintln!("skipping the kernel matrix: {reason}");
        return;
    }
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root && require {
        panic!("the host column needs root for the bpf() syscall (LJBPF_REQUIRE_KERNEL=1)");
    }

    for kernel in KERNELS {
        let package = cache.join("kernels").join(kernel).join("package");
        let package = std::fs::read_to_string(package).unwrap_or_default();
        eprintln!("kernel {kernel}: {}", package.trim());
    }
    let release = build_release_binaries(&repo);
    let initrd = cache.join("initrd.gz");
    run(Command::new(repo.join("matrix/mkinitramfs"))
        .arg(&initrd)
        .arg(&release));
    let probes = probe_dir(&repo, &cache);

    // The guests boot in parallel (one emulated CPU each) while the host column runs.
    let guests: Vec<_> = KERNELS
        .iter()
        .map(|&kernel| {
            let dir = cache.join("kernels").join(kernel);
            let initrd = initrd.clone();
            let log = cache.join(format!("{kernel}.log"));
            std::thread::spawn(move || (kernel, boot(&dir, &initrd, &log)))
        })
        .collect();
    let mut results: BTreeMap<(String, String), Outcome> = BTreeMap::new();
    let mut errors = Vec::new();
    let mut kernels_run = Vec::new();
    if root {
        let mut driver = Command::new(release.join("matrix_guest"));
        driver.arg(&release).arg(&probes);
        let log = cache.join(format!("{HOST}.log"));
        match run_logged(&mut driver, &log).and_then(|()| parse(HOST, &log, &mut results)) {
            Ok(()) => kernels_run.push(HOST.to_string()),
            Err(e) => errors.push(format!("host: {e}")),
        }
    } else {
        eprintln!("not root: the host column is skipped (the bpf() syscall needs root)");
    }
    for guest in guests {
        let (kernel, booted) = guest.join().expect("boot thread");
        let log = cache.join(format!("{kernel}.log"));
        match booted.and_then(|()| parse(kernel, &log, &mut results)) {
            Ok(()) => kernels_run.push(kernel.to_string()),
            Err(e) => errors.push(format!("kernel {kernel}: {e}")),
        }
    }

    let expected_path = repo.join("matrix/expected.txt");
    let expected = read_expected(&expected_path);
    let (table, differences) = compare(&results, &expected, &kernels_run);
    eprintln!("{table}");
    let _ = std::fs::write(cache.join("report.txt"), &table);
    eprintln!(
        "kernel matrix: {} results from {kernels_run:?} in {:.0} s",
        results.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    if std::env::var(BLESS_ENV).as_deref() == Ok("1") {
        bless(&expected_path, &expected, &results, &kernels_run);
        return;
    }
    assert!(
        differences.is_empty(),
        "the kernel matrix differs from matrix/expected.txt:\n{}\n\
         (after a fix, update the file: {BLESS_ENV}=1 cargo nextest run -p ljbpf-tests \
         --test kernel_matrix)",
        differences.join("\n")
    );
}

/// Builds (or finds up to date) the release binaries the guests run; returns their directory.
fn build_release_binaries(repo: &Path) -> PathBuf {
    // This test binary is `<target>/<profile>/deps/kernel_matrix-<hash>`.
    let exe = std::env::current_exe().expect("current_exe");
    let target = exe
        .ancestors()
        .nth(3)
        .expect("the target directory")
        .to_path_buf();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    run(Command::new(cargo)
        .current_dir(repo)
        .args(["build", "--release", "--target-dir"])
        .arg(&target)
        .args(["-p", "ljbpf-examples", "--bins"])
        .args([
            "-p",
            "ljbpf-cli",
            "-p",
            "ljbpf-tests",
            "--bin",
            "matrix_guest",
        ]));
    target.join("release")
}

/// `DIR/probes/{corpus,examples}/*.lua`: the probe files, laid out as the guests have them.
fn probe_dir(repo: &Path, cache: &Path) -> PathBuf {
    let probes = cache.join("probes");
    let _ = std::fs::remove_dir_all(&probes);
    for (from, to) in [("tests/corpus", "corpus"), ("examples/probes", "examples")] {
        std::fs::create_dir_all(probes.join(to)).unwrap();
        for entry in std::fs::read_dir(repo.join(from)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "lua") {
                std::fs::copy(&path, probes.join(to).join(path.file_name().unwrap())).unwrap();
            }
        }
    }
    probes
}

/// Runs a command that must succeed.
fn run(command: &mut Command) {
    let status = command
        .status()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(status.success(), "{command:?}: {status}");
}

/// Boots the kernel in `dir` with the initramfs; its serial console goes to `log`.
fn boot(dir: &Path, initrd: &Path, log: &Path) -> Result<(), String> {
    let mut qemu = Command::new("qemu-system-x86_64");
    // TCG: nested KVM is not available everywhere CI runs (and hangs where it half is).
    qemu.args(["-accel", "tcg", "-cpu", "max", "-m", "2048", "-smp", "1"])
        .args(["-nographic", "-no-reboot", "-nic", "none"])
        .arg("-kernel")
        .arg(dir.join("vmlinuz"))
        .arg("-initrd")
        .arg(initrd)
        // panic=-1: a kernel panic powers off (-no-reboot) instead of waiting for the timeout.
        .args(["-append", "console=ttyS0 panic=-1 quiet"]);
    run_logged(&mut qemu, log)
}

/// Runs `command` with its output in `log`, killing it after [`TIMEOUT`].
fn run_logged(command: &mut Command, log: &Path) -> Result<(), String> {
    let file = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let mut child = command
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .map_err(|e| format!("{command:?}: {e}"))?;
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return if status.success() {
                Ok(())
            } else {
                Err(format!("{command:?}: {status}; see {}", log.display()))
            };
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "killed after {TIMEOUT:?}; the end of {}:\n{}",
                log.display(),
                tail(log)
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The last lines of a log, for a message.
fn tail(log: &Path) -> String {
    let text = String::from_utf8_lossy(&std::fs::read(log).unwrap_or_default()).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// Reads the `MATRIX-RESULT` lines of a run into `results`; the run must have ended with
/// `MATRIX-DONE <count>` and that many results.
fn parse(
    kernel: &str,
    log: &Path,
    results: &mut BTreeMap<(String, String), Outcome>,
) -> Result<(), String> {
    let text =
        String::from_utf8_lossy(&std::fs::read(log).map_err(|e| e.to_string())?).into_owned();
    let mut count = 0;
    let mut done = None;
    // Kernel messages and terminal escapes may share a line with the driver's output.
    for line in text.lines() {
        if let Some(at) = line.find("MATRIX-KERNEL ") {
            eprintln!("{kernel}: {}", &line[at..]);
        }
        if let Some(at) = line.find("MATRIX-DONE ") {
            done = line[at + 12..].trim().parse::<usize>().ok();
        }
        let Some(at) = line.find("MATRIX-RESULT ") else {
            continue;
        };
        let mut words = line[at + 14..].splitn(3, ' ');
        let (Some(test), Some(verdict)) = (words.next(), words.next()) else {
            return Err(format!("bad result line {line:?}"));
        };
        let outcome = Outcome {
            verdict: verdict.to_string(),
            detail: words.next().unwrap_or("").trim().to_string(),
        };
        results.insert((kernel.to_string(), test.to_string()), outcome);
        count += 1;
    }
    match done {
        Some(n) if n == count => Ok(()),
        Some(n) => Err(format!("{count} results, the driver reported {n}")),
        None => Err(format!(
            "the driver did not finish ({count} results); the end of {}:\n{}",
            log.display(),
            tail(log)
        )),
    }
}

/// `matrix/expected.txt` as (kernel, test) → PASS|FAIL.
fn read_expected(path: &Path) -> BTreeMap<(String, String), String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut expected = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let [kernel, test, verdict] = words.as_slice() else {
            panic!("{}: bad line {line:?}", path.display());
        };
        assert!(
            matches!(*verdict, "PASS" | "FAIL"),
            "{}: bad verdict in {line:?}",
            path.display()
        );
        expected.insert((kernel.to_string(), test.to_string()), verdict.to_string());
    }
    expected
}

/// The table of every result (kernel, test, result, expectation, detail) and the differences
/// from the expectations of the kernels that ran.
fn compare(
    results: &BTreeMap<(String, String), Outcome>,
    expected: &BTreeMap<(String, String), String>,
    kernels_run: &[String],
) -> (String, Vec<String>) {
    let mut table = String::new();
    let mut differences = Vec::new();
    let _ = writeln!(
        table,
        "{:<6} {:<36} {:<6} {:<8} DETAIL",
        "KERNEL", "TEST", "RESULT", "EXPECTED"
    );
    for ((kernel, test), outcome) in results {
        let want = expected.get(&(kernel.clone(), test.clone()));
        let mark = match want {
            Some(w) if *w == outcome.verdict => "",
            Some(_) if outcome.verdict == "PASS" => {
                "  <-- unexpected PASS: update matrix/expected.txt"
            }
            Some(_) => "  <-- unexpected FAIL",
            None => "  <-- no expectation: add it to matrix/expected.txt",
        };
        let line = format!(
            "{kernel:<6} {test:<36} {:<6} {:<8} {}{mark}",
            outcome.verdict,
            want.map_or("-", String::as_str),
            outcome.detail
        );
        if !mark.is_empty() {
            differences.push(line.clone());
        }
        let _ = writeln!(table, "{line}");
    }
    for ((kernel, test), want) in expected {
        if kernels_run.contains(kernel) && !results.contains_key(&(kernel.clone(), test.clone())) {
            differences.push(format!(
                "{kernel:<6} {test:<36} (none) {want:<8} <-- expected, but the test did not run"
            ));
        }
    }
    (table, differences)
}

/// Rewrites `matrix/expected.txt` with the results of the kernels that ran, keeping the lines
/// of those that did not.
fn bless(
    path: &Path,
    expected: &BTreeMap<(String, String), String>,
    results: &BTreeMap<(String, String), Outcome>,
    kernels_run: &[String],
) {
    let mut all: BTreeMap<(String, String), String> = expected
        .iter()
        .filter(|((kernel, _), _)| !kernels_run.contains(kernel))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    all.extend(results.iter().map(|(k, o)| (k.clone(), o.verdict.clone())));
    let mut text = HEADER.to_string();
    for ((kernel, test), verdict) in &all {
        let _ = writeln!(text, "{kernel} {test} {verdict}");
    }
    std::fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    eprintln!("{BLESS_ENV}=1: wrote {}", path.display());
}
