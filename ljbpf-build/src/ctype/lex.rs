//! Tokenizer for cdef text and C type strings: identifiers, integer literals, punctuators;
//! comments and preprocessor lines are skipped.

use super::CError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Tok {
    Ident(String),
    Num(u64),
    Punct(&'static str),
    Eof,
}

#[derive(Debug, Clone)]
pub(super) struct Token {
    pub(super) tok: Tok,
    pub(super) line: u32,
}

/// Multi-character punctuators first so that the longest match wins.
const PUNCTS: &[&str] = &[
    "...", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||", "->", "{", "}", "[", "]", "(", ")", ";",
    ",", "*", "=", ":", "+", "-", "~", "!", "/", "%", "&", "|", "^", "<", ">", "?", ".",
];

pub(super) fn lex(src: &str) -> Result<Vec<Token>, CError> {
    let b = src.as_bytes();
    let mut i = 0usize;
    let mut line = 1u32;
    let mut at_line_start = true;
    let mut out = Vec::new();
    let err = |line: u32, message: String| CError { line, message };
    while i < b.len() {
        let c = b[i];
        if c == b'\n' {
            line = line.saturating_add(1);
            at_line_start = true;
            i += 1;
            continue;
        }
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if c == b'/' && b.get(i + 1) == Some(&b'*') {
            let start = line;
            i += 2;
            loop {
                match b.get(i) {
                    None => return Err(err(start, "unterminated /* comment".into())),
                    Some(b'*') if b.get(i + 1) == Some(&b'/') => {
                        i += 2;
                        break;
                    }
                    Some(b'\n') => {
                        line = line.saturating_add(1);
                        i += 1;
                    }
                    Some(_) => i += 1,
                }
            }
            continue;
        }
        if c == b'#' {
            let what = if at_line_start {
                "preprocessor directives are not supported in ffi.cdef (the text is not \
                 preprocessed); write plain declarations"
            } else {
                "unexpected character `#`"
            };
            return Err(err(line, what.into()));
        }
        at_line_start = false;
        if c.is_ascii_alphabetic() || c == b'_' || c == b'$' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'$') {
                i += 1;
            }
            let word = String::from_utf8_lossy(&b[start..i]).into_owned();
            out.push(Token {
                tok: Tok::Ident(word),
                line,
            });
            continue;
        }
        if c.is_ascii_digit() {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            let text = String::from_utf8_lossy(&b[start..i]).into_owned();
            let v = parse_number(&text)
                .ok_or_else(|| err(line, format!("invalid integer literal `{text}`")))?;
            out.push(Token {
                tok: Tok::Num(v),
                line,
            });
            continue;
        }
        if c == b'\'' || c == b'"' {
            return Err(err(
                line,
                "character and string literals are not supported in ffi.cdef here".into(),
            ));
        }
        let rest = &b[i..];
        match PUNCTS.iter().find(|p| rest.starts_with(p.as_bytes())) {
            Some(p) => {
                out.push(Token {
                    tok: Tok::Punct(p),
                    line,
                });
                i += p.len();
            }
            None => {
                let ch = src.get(i..).and_then(|s| s.chars().next()).unwrap_or('?');
                return Err(err(line, format!("unexpected character `{ch}`")));
            }
        }
    }
    out.push(Token {
        tok: Tok::Eof,
        line,
    });
    Ok(out)
}

/// Decimal, `0x` hex, `0` octal or `0b` binary, with any `u`/`l` suffix (ignored: constant
/// expressions are evaluated in 64 bits).
fn parse_number(text: &str) -> Option<u64> {
    let lower = text.to_ascii_lowercase();
    let digits = lower.trim_end_matches(['u', 'l']);
    let (radix, body) = if let Some(h) = digits.strip_prefix("0x") {
        (16, h)
    } else if let Some(bin) = digits.strip_prefix("0b") {
        (2, bin)
    } else if digits.len() > 1 && digits.starts_with('0') {
        (8, &digits[1..])
    } else {
        (10, digits)
    };
    if body.is_empty() {
        return None;
    }
    u64::from_str_radix(body, radix).ok()
}
