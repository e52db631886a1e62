//! Verifier rejections: parsing the kernel's log back to an instruction and a Lua line, and
//! `ljbpf check` (load every program, attach nothing).

use std::fmt;
use std::io;

use crate::probe::{load_object, load_program};
use crate::{Error, ProbeSpec, ProgramInfo, SourceLocation};

/// How many trailing log lines [`VerifierError`]'s `Display` shows.
const SUMMARY_LINES: usize = 8;
/// How many characters of each of those lines it shows (state lines can run to kilobytes).
const SUMMARY_LINE_CHARS: usize = 200;
/// How many characters of the verifier's message it shows.
const MESSAGE_CHARS: usize = 600;

/// The verifier rejected a program.
///
/// `Display` (and `Debug`) give a one-line headline (program, Lua `file:line`, instruction, the
/// verifier's message) followed by the last lines of the log, a few kilobytes at most; the full
/// log, which can be megabytes, is [`log`](Self::log) (or [`write_log`](Self::write_log)).
pub struct VerifierError {
    /// Program name.
    pub program: String,
    /// Index of the failing instruction: the last instruction the verifier printed before its
    /// message. `None` if the log names none (e.g. a structural error found before the walk).
    pub insn: Option<u32>,
    /// Lua line of `insn`, from [`ProgramInfo::lines`].
    pub location: Option<SourceLocation>,
    /// The verifier's own message: the non-empty log lines after the failing instruction,
    /// statistics excluded, joined with `; `.
    pub message: String,
    /// The full verifier log.
    pub log: String,
    /// Instructions processed, from the log's `processed N insns` line.
    pub processed: Option<u32>,
    /// What `bpf(BPF_PROG_LOAD)` returned.
    pub io_error: io::Error,
    /// The log filled its buffer, so only its end is here. The kernel then returns `ENOSPC`
    /// in place of the rejection's own error; the verifier's message, at the log's end, is
    /// still the reason.
    pub truncated: bool,
}

impl VerifierError {
    /// Builds the error from what aya returns for a failed `BPF_PROG_LOAD`
    /// (`ProgramError::LoadError { io_error, verifier_log }`).
    pub fn from_log(info: &ProgramInfo, io_error: io::Error, log: String) -> Self {
        let parsed = parse_log(&log);
        let message = if parsed.message.is_empty() {
            format!("bpf(BPF_PROG_LOAD) failed without a verifier message: {io_error}")
        } else {
            parsed.message
        };
        Self {
            program: info.name.to_string(),
            insn: parsed.insn,
            location: parsed.insn.and_then(|insn| info.location_of(insn)),
            message,
            log,
            processed: parsed.processed,
            truncated: io_error.raw_os_error() == Some(libc::ENOSPC),
            io_error,
        }
    }

    /// Writes the full verifier log to `path` (to read a rejection that `Display` shortens).
    pub fn write_log(&self, path: impl AsRef<std::path::Path>) -> io::Result<()> {
        std::fs::write(path, &self.log)
    }

    /// The last non-empty lines of the log, statistics lines left out, at most `n`.
    pub fn last_lines(&self, n: usize) -> Vec<&str> {
        let lines: Vec<&str> = self
            .log
            .lines()
            .map(str::trim_end)
            .filter(|l| !l.is_empty() && !is_stats_line(l))
            .collect();
        lines[lines.len().saturating_sub(n)..].to_vec()
    }
}

impl fmt::Display for VerifierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "program {} rejected by the verifier", self.program)?;
        match (self.location, self.insn) {
            (Some(location), Some(insn)) => write!(f, " at {location} (insn {insn})")?,
            (None, Some(insn)) => write!(f, " at insn {insn}")?,
            (_, None) => {}
        }
        write!(f, ": {}", shorten(&self.message, MESSAGE_CHARS))?;
        if let Some(hint) = hint(&self.message) {
            write!(f, "\n  hint: {hint}")?;
        }
        if self.truncated {
            write!(
                f,
                "\n  note: the verifier log ({} bytes) filled its buffer and lost its beginning; \
                 VerifierError::log has the rest",
                self.log.len()
            )?;
        } else {
            write!(
                f,
                "\n  note: the last lines of the {}-byte verifier log (all of it: VerifierError::log):",
                self.log.len()
            )?;
        }
        for line in self.last_lines(SUMMARY_LINES) {
            write!(f, "\n  {}", shorten(line, SUMMARY_LINE_CHARS))?;
        }
        Ok(())
    }
}

impl fmt::Debug for VerifierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// At most `max` characters of `text`, with `...` when cut.
fn shorten(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => text.into(),
        Some((end, _)) => format!("{}...", &text[..end]).into(),
    }
}

/// What to do about the rejections probe authors meet most.
fn hint(message: &str) -> Option<&'static str> {
    if message.contains("infinite loop") {
        Some("a loop the verifier cannot bound: make its bound a constant (for i = 1, 64 do ... end) or add a constant cap (and i < 64)")
    } else if message.contains("program is too large") || message.contains("too complex") {
        // The verifier gives up after exploring 1M instructions: an unbounded loop does that,
        // and so do long runs of branches without one, each doubling the paths it explores.
        Some("the verifier explored too many paths: a loop it cannot bound (make its bound a constant, for i = 1, 64 do ... end, or add a constant cap, and i < 64), or, without a loop, many conditions in a row, each doubling the paths (fewer branches, or split the work over programs)")
    } else if message.contains("invalid bpf_context access") {
        Some("this context field cannot be read by this program type")
    } else if message.contains("unknown#195896080") || message.contains("invalid func 195896080") {
        // 195896080 is 0xbad2310: what aya and libbpf write over an instruction whose CO-RE
        // relocation found no such field in the loading kernel's BTF.
        Some("this kernel's BTF has no field the program reads at this line (its CO-RE relocation found none): the struct changed between the build kernel and this one; read another field or rebuild for this kernel")
    } else if message.contains("invalid mem access 'map_value_or_null'") {
        Some("a map lookup can be nil: test it (if v then ... end) before using it")
    } else {
        None
    }
}

impl std::error::Error for VerifierError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        // A truncated log's ENOSPC stands in for the real error: it would only mislead.
        (!self.truncated).then_some(&self.io_error as _)
    }
}

/// What [`parse_log`] finds in a verifier log.
#[derive(Debug, Default, PartialEq, Eq)]
struct ParsedLog {
    insn: Option<u32>,
    message: String,
    processed: Option<u32>,
}

/// Statistics lines printed at the end of every log at `BPF_LOG_STATS` level
/// (kernel/bpf/verifier.c, `print_verification_stats`), which are not part of the message.
fn is_stats_line(line: &str) -> bool {
    line.starts_with("processed ")
        || line.starts_with("verification time ")
        || line.starts_with("stack depth ")
}

/// The instruction index of a line the verifier prints for each instruction it walks at
/// `BPF_LOG_LEVEL1` (kernel/bpf/verifier.c, `do_check`: `"%d: "` then `print_bpf_insn`'s
/// `"(%02x) ..."`), e.g. `12: (61) r1 = *(u32 *)(r6 +16)`. State lines such as
/// `12: R1=ctx() R10=fp0` do not count.
fn insn_line_index(line: &str) -> Option<u32> {
    let (index, rest) = line.split_once(": (")?;
    let opcode = rest.get(..3)?;
    let is_opcode =
        opcode.as_bytes()[..2].iter().all(u8::is_ascii_hexdigit) && opcode.as_bytes()[2] == b')';
    if is_opcode && !index.is_empty() && index.bytes().all(|b| b.is_ascii_digit()) {
        index.parse().ok()
    } else {
        None
    }
}

fn parse_log(log: &str) -> ParsedLog {
    let processed = log.lines().find_map(|line| {
        line.strip_prefix("processed ")?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    });
    let content: Vec<&str> = log
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty() && !is_stats_line(l))
        .collect();
    let last_insn = content
        .iter()
        .enumerate()
        .rev()
        .find_map(|(i, line)| insn_line_index(line).map(|insn| (i, insn)));
    let (insn, message_lines) = match last_insn {
        Some((i, insn)) => (Some(insn), &content[i + 1..]),
        None => (None, &content[content.len().saturating_sub(1)..]),
    };
    let message_lines = if message_lines.is_empty() {
        // The log ended on the instruction itself; the best message is the last line.
        &content[content.len().saturating_sub(1)..]
    } else {
        message_lines
    };
    ParsedLog {
        insn,
        message: message_lines.join("; "),
        processed,
    }
}

/// One program's result in [`check`].
#[derive(Debug)]
pub struct CheckRow {
    /// Program name.
    pub name: &'static str,
    /// Kind name, see [`ProgramKind::as_str`](crate::ProgramKind::as_str).
    pub kind: &'static str,
    /// Instructions emitted by the compiler.
    pub insns: u32,
    /// Instructions the verifier processed: from the log's `processed N insns` when rejected,
    /// from `bpf_prog_info.verified_insns` (Linux 5.16+) when accepted.
    pub processed: Option<u32>,
    /// Stack bytes, as laid out by the compiler.
    pub stack_bytes: u32,
    /// `Ok` if the verifier accepted the program; usually [`Error::Verifier`] otherwise.
    pub verdict: Result<(), Error>,
}

/// For `ljbpf check`: loads every program of `spec` into the verifier, with the log at
/// `DEBUG | STATS` level, and attaches nothing. Everything is unloaded when this returns.
///
/// Fails as a whole only if the object itself cannot be loaded (ELF parse, map creation).
pub fn check(spec: &ProbeSpec) -> Result<Vec<CheckRow>, Error> {
    let mut ebpf = load_object(spec, &[])?;
    let mut btf = None;
    let rows = spec
        .programs
        .iter()
        .map(|info| {
            let verdict = load_program(&mut ebpf, &mut btf, spec, info);
            let processed = match &verdict {
                Ok(()) => ebpf
                    .program(info.name)
                    .and_then(|program| program.info().ok())
                    .and_then(|program_info| program_info.verified_instruction_count()),
                Err(Error::Verifier { source }) => source.processed,
                Err(_) => None,
            };
            CheckRow {
                name: info.name,
                kind: info.kind.as_str(),
                insns: info.insns,
                processed,
                stack_bytes: info.stack_bytes,
                verdict,
            }
        })
        .collect();
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_failing_insn_and_message() {
        let log = "func#0 @0\n\
                   0: R1=ctx() R10=fp0\n\
                   0: (b7) r0 = 0                        ; R0_w=0\n\
                   1: (b7) r1 = 1                        ; R1_w=1\n\
                   2: (bf) r0 = r2\n\
                   R2 !read_ok\n\
                   processed 3 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0\n";
        let parsed = parse_log(log);
        assert_eq!(parsed.insn, Some(2));
        assert_eq!(parsed.message, "R2 !read_ok");
        assert_eq!(parsed.processed, Some(3));
    }

    #[test]
    fn no_insn_lines() {
        let parsed =
            parse_log("last insn is not an exit or jmp\nprocessed 0 insns (limit 1000000)\n");
        assert_eq!(parsed.insn, None);
        assert_eq!(parsed.message, "last insn is not an exit or jmp");
        assert_eq!(parsed.processed, Some(0));
        assert_eq!(parse_log(""), ParsedLog::default());
    }

    #[test]
    fn a_truncated_log_says_so_and_hides_its_enospc() {
        use std::error::Error as _;
        let info = ProgramInfo {
            name: "spin",
            kind: crate::ProgramKind::SocketFilter { iface: None },
            insns: 3,
            stack_bytes: 0,
            lines: &[],
            relocs: &[],
        };
        let state = format!("; R1={}", "x".repeat(5000));
        let log = format!(
            "{}\n13: (3d) if r3 >= r5 goto pc+7{state}\nBPF program is too large\n",
            "1: (b7) r0 = 0\n".repeat(10_000)
        );
        let error = VerifierError::from_log(&info, io::Error::from_raw_os_error(libc::ENOSPC), log);
        assert!(error.truncated);
        assert!(error.source().is_none());
        let shown = format!("{error:?}");
        assert!(shown.contains("filled its buffer"), "{shown}");
        assert!(!shown.contains("No space left"), "{shown}");
        assert!(shown.len() < 1200, "{} bytes: {shown}", shown.len());
        let fine = VerifierError::from_log(
            &info,
            io::Error::from_raw_os_error(libc::EACCES),
            "0: (95) exit\nR0 !read_ok\n".into(),
        );
        assert!(!fine.truncated);
        assert!(fine.source().is_some());
    }

    #[test]
    fn state_lines_are_not_insns() {
        assert_eq!(insn_line_index("12: (61) r1 = *(u32 *)(r6 +16)"), Some(12));
        assert_eq!(insn_line_index("12: R1=ctx() R10=fp0"), None);
        assert_eq!(insn_line_index("from 3 to 5: (bf) r0 = r1"), None);
        assert_eq!(insn_line_index("5: ("), None);
    }
}
