//! End-to-end test of the `bashreadline` example: the real binary, a real interactive bash.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ljbpf_examples::testing::{interactive_bash, kernel_available};

const BASHREADLINE: &str = env!("CARGO_BIN_EXE_bashreadline");

/// Two commands typed into an interactive bash come out of `bashreadline` as two lines with
/// bash's pid, in order, and nothing else of that bash.
#[test]
fn prints_the_commands_typed_into_bash() {
    if !kernel_available("prints_the_commands_typed_into_bash") {
        return;
    }
    let mut tool = Command::new(BASHREADLINE)
        .args(["--duration", "60"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn bashreadline");
    // Lines of the tool's output as they come; the header once the uretprobe is attached.
    let (tx, lines) = mpsc::channel();
    let stdout = BufReader::new(tool.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in stdout.lines() {
            if tx.send(line.expect("bashreadline output")).is_err() {
                break;
            }
        }
    });
    let header = lines.recv_timeout(Duration::from_secs(30));
    if header.as_deref() != Ok("TIME      PID    COMMAND") {
        let _ = tool.kill();
        let _ = tool.wait();
        let mut stderr = String::new();
        let _ = tool.stderr.take().unwrap().read_to_string(&mut stderr);
        panic!("bashreadline did not start: {header:?}\n{stderr}");
    }

    let commands = ["echo ljbpf-bashreadline-$((6 * 7))", "exit 3"];
    let (pid, code, terminal) = interactive_bash(format!("{}\n", commands.join("\n")).as_bytes());
    assert_eq!(code, Some(3), "bash: {terminal}");
    assert!(terminal.contains("ljbpf-bashreadline-42"), "{terminal}");

    // The tool's lines for that bash: `HH:MM:SS  PID    COMMAND`.
    let mut seen = Vec::new();
    let mut all = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.len() < commands.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = lines.recv_timeout(left) else {
            break;
        };
        all.push(line.clone());
        let Some((time, who, command)) = parse(&line) else {
            panic!("bad line {line:?}");
        };
        if who != pid {
            continue;
        }
        assert!(
            time.len() == 8
                && time.bytes().enumerate().all(|(i, b)| if i % 3 == 2 {
                    b == b':'
                } else {
                    b.is_ascii_digit()
                }),
            "bad time in {line:?}"
        );
        seen.push(command.to_owned());
    }
    // Anything more from that bash would come within a moment.
    while let Ok(line) = lines.recv_timeout(Duration::from_millis(300)) {
        all.push(line);
    }
    // SAFETY: kill has no memory-safety preconditions; the pid is our live child.
    unsafe { libc::kill(tool.id() as libc::pid_t, libc::SIGINT) };
    let status = tool.wait().expect("wait for bashreadline");
    let mut stderr = String::new();
    tool.stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    eprintln!(
        "bash {pid}; bashreadline printed:\n{}\n{stderr}",
        all.join("\n")
    );
    assert_eq!(seen, commands, "{all:#?}\n{stderr}");
    let extra: Vec<&String> = all
        .iter()
        .filter(|l| parse(l).is_some_and(|(_, who, _)| who == pid))
        .skip(commands.len())
        .collect();
    assert!(extra.is_empty(), "more lines from bash {pid}: {extra:?}");
    assert!(!stderr.contains("lost"), "{stderr}");
    // Ctrl-C ends it (the default SIGINT action; the uretprobe goes with the process).
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGINT),
        "{status:?}"
    );
}

/// A line `{time:<9} {pid:<6} {command}` as (time, pid, command).
fn parse(line: &str) -> Option<(&str, u32, &str)> {
    let time = line.get(..8)?;
    let rest = line.get(10..)?;
    let pid = rest.split(' ').next()?;
    let command = rest.get(pid.len().max(6) + 1..)?;
    Some((time, pid.parse().ok()?, command))
}
