//! The statement-level parser: a token cursor ([`Parser`]) and external declarations
//! (`typedef`, `struct x {..};`, `static const`, ignored functions and variables). The two
//! halves of one declaration are in `specifier` and `declarator`; constant expressions in `expr`.

use super::declarator::DeclMode;
use super::lex::{Tok, Token};
use super::{builtin_typedef, CError, CType, CTypes, StructDef, MAX_DEPTH};
use std::rc::Rc;

#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Attrs {
    pub(super) packed: bool,
    pub(super) aligned: Option<u32>,
}

impl Attrs {
    pub(super) fn merge(&mut self, o: Attrs) {
        self.packed |= o.packed;
        if let Some(a) = o.aligned {
            self.aligned = Some(self.aligned.map_or(a, |b| b.max(a)));
        }
    }
    pub(super) fn any(&self) -> bool {
        self.packed || self.aligned.is_some()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Storage {
    Typedef,
    Static,
    Extern,
}

pub(super) struct Spec {
    pub(super) ty: CType,
    pub(super) storage: Option<Storage>,
    pub(super) attrs: Attrs,
    /// The specifier defined a tagged or anonymous struct/union/enum body (so `spec;` alone is
    /// meaningful).
    pub(super) defined_body: bool,
}
pub(super) struct FieldDecl {
    pub(super) name: Option<String>,
    pub(super) ty: CType,
    pub(super) bits: Option<u32>,
    pub(super) attrs: Attrs,
    pub(super) line: u32,
}

pub(super) struct Parser<'a> {
    pub(super) toks: Vec<Token>,
    pub(super) pos: usize,
    pub(super) types: &'a mut CTypes,
    pub(super) depth: u32,
}

pub(super) const QUALIFIERS: &[&str] = &[
    "const",
    "volatile",
    "restrict",
    "__const",
    "__const__",
    "__volatile",
    "__volatile__",
    "__restrict",
    "__restrict__",
    "__extension__",
    "inline",
    "__inline",
    "__inline__",
    "register",
    "auto",
];

pub(super) const INT_WORDS: &[&str] = &[
    "void",
    "bool",
    "_Bool",
    "char",
    "short",
    "int",
    "long",
    "signed",
    "__signed",
    "__signed__",
    "unsigned",
    "float",
    "double",
];

pub(super) fn is_keyword(w: &str) -> bool {
    QUALIFIERS.contains(&w)
        || INT_WORDS.contains(&w)
        || matches!(
            w,
            "struct"
                | "union"
                | "enum"
                | "typedef"
                | "static"
                | "extern"
                | "sizeof"
                | "__attribute__"
                | "__attribute"
                | "_Alignof"
                | "__alignof__"
                | "alignof"
        )
}

impl<'a> Parser<'a> {
    pub(super) fn new(toks: Vec<Token>, types: &'a mut CTypes) -> Self {
        Parser {
            toks,
            pos: 0,
            types,
            depth: 0,
        }
    }

    pub(super) fn peek(&self) -> &Tok {
        self.peek_at(0)
    }

    pub(super) fn peek_at(&self, n: usize) -> &Tok {
        self.toks
            .get(self.pos.saturating_add(n))
            .map_or(&Tok::Eof, |t| &t.tok)
    }

    pub(super) fn line(&self) -> u32 {
        self.toks
            .get(self.pos)
            .or_else(|| self.toks.last())
            .map_or(1, |t| t.line)
    }

    pub(super) fn bump(&mut self) -> Tok {
        let t = self.peek().clone();
        if self.pos < self.toks.len() {
            self.pos += 1;
        }
        t
    }

    pub(super) fn at_eof(&self) -> bool {
        *self.peek() == Tok::Eof
    }

    pub(super) fn is_punct(&self, p: &str) -> bool {
        matches!(self.peek(), Tok::Punct(q) if *q == p)
    }

    pub(super) fn eat_punct(&mut self, p: &str) -> bool {
        if self.is_punct(p) {
            self.bump();
            true
        } else {
            false
        }
    }

    pub(super) fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Tok::Ident(x) if x == w)
    }

    pub(super) fn describe(t: &Tok) -> String {
        match t {
            Tok::Ident(w) => format!("`{w}`"),
            Tok::Num(n) => format!("`{n}`"),
            Tok::Punct(p) => format!("`{p}`"),
            Tok::Eof => "end of input".into(),
        }
    }

    pub(super) fn expected(&self, what: &str) -> CError {
        CError {
            line: self.line(),
            message: format!("expected {what}, found {}", Self::describe(self.peek())),
        }
    }

    pub(super) fn error(&self, line: u32, message: impl Into<String>) -> CError {
        CError {
            line,
            message: message.into(),
        }
    }

    pub(super) fn expect_punct(&mut self, p: &str) -> Result<(), CError> {
        if self.eat_punct(p) {
            Ok(())
        } else {
            Err(self.expected(&format!("`{p}`")))
        }
    }

    pub(super) fn enter(&mut self) -> Result<(), CError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            Err(self.error(self.line(), "declaration nested too deeply"))
        } else {
            Ok(())
        }
    }

    pub(super) fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    pub(super) fn is_typedef_name(&self, w: &str) -> bool {
        self.types.typedefs.contains_key(w) || builtin_typedef(w).is_some()
    }

    /// Whether the current token can start a type name (for `sizeof(` and `(` disambiguation).
    pub(super) fn starts_type(&self) -> bool {
        match self.peek() {
            Tok::Ident(w) => {
                QUALIFIERS.contains(&w.as_str())
                    || INT_WORDS.contains(&w.as_str())
                    || matches!(w.as_str(), "struct" | "union" | "enum")
                    || self.is_typedef_name(w)
            }
            _ => false,
        }
    }

    // --- declarations ---

    pub(super) fn translation_unit(&mut self) -> Result<(), CError> {
        while !self.at_eof() {
            if self.eat_punct(";") {
                continue;
            }
            self.external_declaration()?;
        }
        Ok(())
    }

    pub(super) fn external_declaration(&mut self) -> Result<(), CError> {
        let line = self.line();
        let spec = self.decl_spec()?;
        if self.eat_punct(";") {
            if spec.storage == Some(Storage::Typedef) {
                return Err(self.error(line, "typedef declares no name"));
            }
            return Ok(());
        }
        loop {
            let decl = self.declarator(DeclMode::Named)?;
            let dline = decl.line;
            let name = decl.name().unwrap_or_default().to_string();
            let attrs = decl.all_attrs();
            if decl.has_flexible() {
                return Err(self.error(dline, format!("`{name}`: array size missing")));
            }
            let applied = decl.apply(spec.ty.clone(), dline)?;
            match spec.storage {
                Some(Storage::Typedef) => {
                    if applied.is_function {
                        return Err(self.error(
                            dline,
                            format!("typedef `{name}`: function types are not supported; use a function pointer"),
                        ));
                    }
                    if attrs.any() || spec.attrs.any() {
                        return Err(self.error(
                            dline,
                            format!("typedef `{name}`: attributes on a typedef are not supported; put them on the struct"),
                        ));
                    }
                    self.add_typedef(&name, applied.ty, dline)?;
                }
                Some(Storage::Static) if !applied.is_function && self.is_punct("=") => {
                    // LuaJIT's way to declare constants: `static const int NAME = expr;`.
                    self.bump();
                    if !applied.ty.is_integer() {
                        return Err(self.error(
                            dline,
                            format!("constant `{name}`: only integer constants are supported"),
                        ));
                    }
                    let v = self.const_expr()?;
                    self.add_constant(&name, v, dline)?;
                }
                // Functions and variables: symbols, meaningless in BPF code. Ignored.
                _ => {}
            }
            if self.eat_punct(",") {
                continue;
            }
            if self.eat_punct(";") {
                return Ok(());
            }
            if self.is_punct("=") {
                return Err(self.error(
                    self.line(),
                    "initializers are only supported for `static const` integer constants",
                ));
            }
            return Err(self.expected("`,` or `;` after a declarator"));
        }
    }

    pub(super) fn add_typedef(&mut self, name: &str, ty: CType, line: u32) -> Result<(), CError> {
        let existing = self.types.typedef(name);
        if let Some(old) = existing {
            if old == ty {
                return Ok(());
            }
            return Err(self.error(
                line,
                format!(
                    "conflicting typedef `{name}`: already `{}`, now `{}`",
                    old.c_name(),
                    ty.c_name()
                ),
            ));
        }
        if self.types.constants.contains_key(name) {
            return Err(self.error(line, format!("`{name}` is already a constant")));
        }
        // Give an anonymous struct the typedef's name, so it has one to be printed with.
        let ty = match ty {
            CType::Struct(def) if def.name.is_none() && def.typedef_name.is_none() => {
                let named = Rc::new(StructDef {
                    typedef_name: Some(name.to_string()),
                    ..(*def).clone()
                });
                if let Some(slot) = self.types.structs.iter_mut().find(|s| Rc::ptr_eq(s, &def)) {
                    *slot = named.clone();
                }
                CType::Struct(named)
            }
            other => other,
        };
        self.types.typedefs.insert(name.to_string(), ty);
        self.types.typedef_order.push(name.to_string());
        Ok(())
    }

    pub(super) fn add_constant(&mut self, name: &str, v: i64, line: u32) -> Result<(), CError> {
        if self.is_typedef_name(name) {
            return Err(self.error(line, format!("`{name}` is already a typedef name")));
        }
        match self.types.constants.get(name) {
            Some(&old) if old != v => Err(self.error(
                line,
                format!("constant `{name}` redefined with value {v} (was {old})"),
            )),
            _ => {
                self.types.constants.insert(name.to_string(), v);
                Ok(())
            }
        }
    }
}
