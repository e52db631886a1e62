//! Declarators: the part of a declaration after the specifiers (`*name[4]`, `(*f)(int)`), and
//! how it turns the specifier's type into the declared type.

use super::lex::Tok;
use super::parse::{is_keyword, Attrs, Parser, QUALIFIERS};
use super::{CError, CType};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DeclMode {
    /// A name is required.
    Named,
    /// No name allowed (type names).
    Abstract,
    /// A name is optional (struct fields: `int : 3;`).
    Optional,
}

#[derive(Debug)]
pub(super) enum Suffix {
    Array(Option<u32>),
    Function,
}

#[derive(Debug, Default)]
pub(super) struct Declarator {
    pub(super) name: Option<String>,
    pub(super) line: u32,
    pub(super) ptrs: usize,
    pub(super) suffixes: Vec<Suffix>,
    pub(super) inner: Option<Box<Declarator>>,
    pub(super) attrs: Attrs,
}

pub(super) struct Applied {
    pub(super) ty: CType,
    /// The outermost derivation was a function: only a declaration of a function, ignored.
    pub(super) is_function: bool,
}

impl Declarator {
    pub(super) fn name(&self) -> Option<&str> {
        match &self.name {
            Some(n) => Some(n),
            None => self.inner.as_ref().and_then(|d| d.name()),
        }
    }

    pub(super) fn all_attrs(&self) -> Attrs {
        let mut a = self.attrs;
        if let Some(inner) = &self.inner {
            a.merge(inner.all_attrs());
        }
        a
    }

    /// Builds the declared type from the specifier type, inside out (C's declarator rule:
    /// pointers bind looser than suffixes; a parenthesized declarator applies last).
    pub(super) fn apply(&self, base: CType, line: u32) -> Result<Applied, CError> {
        let err = |message: &str| CError {
            line,
            message: message.into(),
        };
        let mut t = Applied {
            ty: base,
            is_function: false,
        };
        for _ in 0..self.ptrs {
            t = Applied {
                // A pointer to a function is opaque to BPF code: `void *`.
                ty: CType::Pointer(Box::new(if t.is_function { CType::Void } else { t.ty })),
                is_function: false,
            };
        }
        for s in self.suffixes.iter().rev() {
            match s {
                Suffix::Array(n) => {
                    if t.is_function {
                        return Err(err("array of functions is not valid C"));
                    }
                    match &t.ty {
                        CType::Void => return Err(err("array of void is not valid C")),
                        CType::Opaque { name, is_union } => {
                            return Err(err(&format!(
                                "array of incomplete type `{} {name}` (define it before use)",
                                if *is_union { "union" } else { "struct" }
                            )))
                        }
                        CType::Array(_, 0) => {
                            return Err(err("only the first dimension of an array may be empty"))
                        }
                        _ => {}
                    }
                    let n = n.unwrap_or(0);
                    if u64::from(t.ty.size()) * u64::from(n) > u64::from(u32::MAX) {
                        return Err(err("array is too large"));
                    }
                    t.ty = CType::Array(Box::new(t.ty), n);
                }
                Suffix::Function => {
                    if t.is_function {
                        return Err(err("a function cannot return a function"));
                    }
                    t = Applied {
                        ty: CType::Void,
                        is_function: true,
                    };
                }
            }
        }
        match &self.inner {
            Some(inner) => inner.apply(t.ty, line).map(|mut a| {
                a.is_function |= t.is_function && inner.ptrs == 0 && inner.suffixes.is_empty();
                a
            }),
            None => Ok(t),
        }
    }

    /// Whether an array dimension was left empty (`x[]`), anywhere.
    pub(super) fn has_flexible(&self) -> bool {
        self.suffixes
            .iter()
            .any(|s| matches!(s, Suffix::Array(None)))
            || self.inner.as_ref().is_some_and(|d| d.has_flexible())
    }
}

impl Parser<'_> {
    /// A (possibly abstract) declarator: `*name`, `name[4][2]`, `(*name)[8]`, `(*)(int)`.
    pub(super) fn declarator(&mut self, mode: DeclMode) -> Result<Declarator, CError> {
        self.enter()?;
        let r = self.declarator_inner(mode);
        self.leave();
        r
    }

    pub(super) fn declarator_inner(&mut self, mode: DeclMode) -> Result<Declarator, CError> {
        let mut d = Declarator {
            line: self.line(),
            ..Declarator::default()
        };
        loop {
            if self.eat_punct("*") {
                d.ptrs += 1;
            } else if matches!(self.peek(), Tok::Ident(w) if QUALIFIERS.contains(&w.as_str())) {
                self.bump();
            } else if self.is_word("__attribute__") || self.is_word("__attribute") {
                let a = self.attributes()?;
                d.attrs.merge(a);
            } else {
                break;
            }
        }
        // Direct declarator.
        let nested = self.is_punct("(")
            && match self.peek_at(1) {
                Tok::Punct(p) => *p == "*" || *p == "(" || *p == "[",
                Tok::Ident(w) => {
                    mode != DeclMode::Abstract && !is_keyword(w) && !self.is_typedef_name(w)
                }
                _ => false,
            };
        if nested {
            self.bump();
            let inner = self.declarator(mode)?;
            self.expect_punct(")")?;
            d.inner = Some(Box::new(inner));
        } else if let Tok::Ident(w) = self.peek() {
            if !is_keyword(w) {
                if mode == DeclMode::Abstract {
                    return Err(self.error(
                        self.line(),
                        format!("unexpected name `{w}` in a type name (expected a type like `uint32_t`, `struct x`, `char[16]`)"),
                    ));
                }
                d.name = Some(w.clone());
                d.line = self.line();
                self.bump();
            }
        }
        if mode == DeclMode::Named && d.name().is_none() {
            return Err(self.expected("a name"));
        }
        loop {
            if self.eat_punct("[") {
                if self.eat_punct("]") {
                    d.suffixes.push(Suffix::Array(None));
                    continue;
                }
                let line = self.line();
                let n = self.const_expr()?;
                self.expect_punct("]")?;
                let n = u32::try_from(n)
                    .map_err(|_| self.error(line, format!("invalid array size {n}")))?;
                d.suffixes.push(Suffix::Array(Some(n)));
            } else if self.is_punct("(") {
                self.skip_balanced()?;
                d.suffixes.push(Suffix::Function);
            } else if self.is_word("__attribute__") || self.is_word("__attribute") {
                let a = self.attributes()?;
                d.attrs.merge(a);
            } else {
                break;
            }
        }
        Ok(d)
    }
}
