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

/// The candidates that share the longest prefix (at least 3 bytes) with `want`, for "did you
/// mean" (in the candidates' order, at most 5).
pub fn closest(cands: Vec<String>, want: &str) -> Vec<String> {
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
