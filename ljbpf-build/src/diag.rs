//! Diagnostics: every compiler error carries the Lua `file:line` it is about.

use std::fmt;

/// A place in a probe file.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    /// The probe file as the user named it.
    pub file: String,
    /// 1-based line; 0 when the error is about the file as a whole.
    pub line: u32,
}

impl Span {
    /// A span at `line` of `file`.
    pub fn new(file: impl Into<String>, line: u32) -> Span {
        Span {
            file: file.into(),
            line,
        }
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.file)
        } else {
            write!(f, "{}:{}", self.file, self.line)
        }
    }
}

/// One error found in a probe file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Where it is.
    pub span: Span,
    /// What is wrong, lowercase, without a trailing period.
    pub message: String,
    /// What to do about it, when we can say.
    pub hint: Option<String>,
}

impl Diagnostic {
    /// An error at `span`.
    pub fn new(span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            span,
            message: message.into(),
            hint: None,
        }
    }

    /// The same error with a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: error: {}", self.span, self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// All errors of one probe file, in file order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// One error.
    pub fn one(d: Diagnostic) -> Diagnostics {
        Diagnostics(vec![d])
    }

    /// Sorts by position and removes exact repeats, so output is stable.
    pub fn normalize(&mut self) {
        self.0.sort_by(|a, b| a.span.cmp(&b.span));
        self.0.dedup();
    }
}

impl Diagnostics {
    /// The first `n` errors as text, and how many more there are.
    pub fn capped(&self, n: usize) -> String {
        let mut text = Diagnostics(self.0.iter().take(n).cloned().collect()).to_string();
        if let Some(first) = self.0.first().filter(|_| self.0.len() > n) {
            let more = self.0.len() - n;
            text.push_str(&format!(
                "\n{}: {more} more error{} not shown",
                first.span.file,
                if more == 1 { "" } else { "s" }
            ));
        }
        text
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Diagnostics {
        Diagnostics::one(d)
    }
}

/// The candidates nearest to `want`, for "did you mean" (in the candidates' order, at most 5):
/// those within a typo of it (one edit for names of up to 5 bytes, two for longer ones), the
/// fewest edits first; else those sharing its longest prefix of at least 3
/// bytes (a name whose end was guessed).
pub fn closest(cands: Vec<String>, want: &str) -> Vec<String> {
    // Two edits at most: with more, long names that share only a common prefix
    // (`sys_enter_`) would look alike.
    let limit = if want.len() <= 5 { 1 } else { 2 };
    let near = cands
        .iter()
        .map(|c| edits(c.as_bytes(), want.as_bytes()))
        .filter(|&d| d <= limit)
        .min();
    if let Some(best) = near {
        return cands
            .into_iter()
            .filter(|c| edits(c.as_bytes(), want.as_bytes()) == best)
            .take(5)
            .collect();
    }
    let common = |c: &str| {
        c.bytes()
            .zip(want.bytes())
            .take_while(|(a, b)| a == b)
            .count()
    };
    let top = cands.iter().map(|c| common(c)).max().unwrap_or(0);
    if top < 3 {
        return Vec::new();
    }
    cands
        .into_iter()
        .filter(|c| common(c) == top)
        .take(5)
        .collect()
}

/// "did you mean `a`?" (or "`a` or `b`") for the [`closest`] candidates, if any.
pub fn did_you_mean<'a>(cands: impl IntoIterator<Item = &'a str>, want: &str) -> Option<String> {
    let near = closest(cands.into_iter().map(str::to_string).collect(), want);
    if near.is_empty() {
        return None;
    }
    let quoted: Vec<String> = near.iter().map(|n| format!("`{n}`")).collect();
    Some(format!("did you mean {}?", quoted.join(" or ")))
}

/// Levenshtein distance: insertions, deletions and substitutions of bytes.
fn edits(a: &[u8], b: &[u8]) -> usize {
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, &x) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &y) in b.iter().enumerate() {
            let next = (diagonal + usize::from(x != y))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_then_prefixes() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(closest(names(&["counts", "config"]), "countz"), ["counts"]);
        assert_eq!(closest(names(&["time", "cpu"]), "tme"), ["time"]);
        assert_eq!(
            closest(
                names(&["sys_enter_read", "sys_enter_readv"]),
                "sys_enter_reed"
            ),
            ["sys_enter_read"]
        );
        assert_eq!(
            closest(names(&["sched_switch", "sched_wakeup"]), "sched_sw"),
            ["sched_switch"]
        );
        assert!(closest(names(&["xadd", "time"]), "q").is_empty());
        assert_eq!(
            did_you_mean(["pid_tgid", "uid_gid"], "pid_tgd").as_deref(),
            Some("did you mean `pid_tgid`?")
        );
        assert_eq!(edits(b"kitten", b"sitting"), 3);
        assert_eq!(edits(b"", b"abc"), 3);
    }
}
