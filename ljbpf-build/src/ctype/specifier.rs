//! Declaration specifiers: qualifiers, storage class, attributes, integer keyword spellings,
//! `struct`/`union` bodies with their fields, and `enum`.

use super::declarator::DeclMode;
use super::layout::layout;
use super::lex::Tok;
use super::parse::{is_keyword, Attrs, FieldDecl, Parser, Spec, Storage, INT_WORDS, QUALIFIERS};
use super::{int, CError, CType, Tag};
use std::rc::Rc;

impl Parser<'_> {
    /// Declaration specifiers: qualifiers, storage class, attributes and exactly one type.
    pub(super) fn decl_spec(&mut self) -> Result<Spec, CError> {
        let line = self.line();
        let mut storage = None;
        let mut attrs = Attrs::default();
        let mut ty: Option<CType> = None;
        let mut defined_body = false;
        let mut words: Vec<String> = Vec::new();
        while let Tok::Ident(w) = self.peek() {
            let w = w.clone();
            if QUALIFIERS.contains(&w.as_str()) {
                self.bump();
            } else if let Some(s) = match w.as_str() {
                "typedef" => Some(Storage::Typedef),
                "static" => Some(Storage::Static),
                "extern" => Some(Storage::Extern),
                _ => None,
            } {
                if storage.is_some() {
                    return Err(self.error(self.line(), "more than one storage class"));
                }
                storage = Some(s);
                self.bump();
            } else if w == "__attribute__" || w == "__attribute" {
                let a = self.attributes()?;
                attrs.merge(a);
            } else if w == "struct" || w == "union" || w == "enum" {
                if ty.is_some() || !words.is_empty() {
                    return Err(self.error(self.line(), format!("unexpected `{w}` after a type")));
                }
                self.bump();
                let (t, body) = if w == "enum" {
                    self.enum_spec()?
                } else {
                    self.struct_spec(w == "union")?
                };
                defined_body = body;
                ty = Some(t);
            } else if INT_WORDS.contains(&w.as_str()) {
                if ty.is_some() {
                    return Err(self.error(self.line(), format!("unexpected `{w}` after a type")));
                }
                self.bump();
                words.push(w);
            } else if ty.is_none() && words.is_empty() && self.is_typedef_name(&w) {
                self.bump();
                ty = self.types.typedef(&w);
            } else {
                break;
            }
        }
        let ty = match (ty, words.is_empty()) {
            (Some(t), true) => t,
            (None, false) => int_from_words(&words).map_err(|m| self.error(line, m))?,
            (Some(_), false) => return Err(self.error(line, "more than one type in declaration")),
            (None, true) => {
                return Err(match self.peek() {
                    Tok::Ident(w) if !is_keyword(w) => self.error(
                        self.line(),
                        format!("unknown type name `{w}` (declare it with a typedef first)"),
                    ),
                    _ => self.expected("a type"),
                })
            }
        };
        Ok(Spec {
            ty,
            storage,
            attrs,
            defined_body,
        })
    }

    /// `__attribute__((a, b(...)))`, possibly repeated.
    pub(super) fn attributes(&mut self) -> Result<Attrs, CError> {
        let mut attrs = Attrs::default();
        while self.is_word("__attribute__") || self.is_word("__attribute") {
            self.bump();
            self.expect_punct("(")?;
            self.expect_punct("(")?;
            loop {
                if self.is_punct(")") {
                    break;
                }
                let line = self.line();
                let name = match self.bump() {
                    Tok::Ident(w) => w,
                    _ => {
                        self.pos = self.pos.saturating_sub(1);
                        return Err(self.expected("an attribute name"));
                    }
                };
                match name.trim_matches('_') {
                    "packed" => attrs.packed = true,
                    "aligned" => {
                        let n = if self.eat_punct("(") {
                            let v = self.const_expr()?;
                            self.expect_punct(")")?;
                            v
                        } else {
                            // GCC: the largest alignment of any type on the target (x86-64: 16).
                            16
                        };
                        if !(1..=(1 << 16)).contains(&n) || n & (n - 1) != 0 {
                            return Err(self.error(
                                line,
                                format!("aligned({n}): alignment must be a power of two"),
                            ));
                        }
                        let n = n as u32;
                        attrs.aligned = Some(attrs.aligned.map_or(n, |a| a.max(n)));
                    }
                    // Attributes that do not change layout.
                    "unused" | "used" | "may_alias" | "deprecated" | "aligned_noop" => {
                        if self.is_punct("(") {
                            self.skip_balanced()?;
                        }
                    }
                    other => {
                        return Err(self.error(
                            line,
                            format!(
                                "unsupported attribute `{other}` (supported: packed, aligned(N))"
                            ),
                        ))
                    }
                }
                if !self.eat_punct(",") {
                    break;
                }
            }
            self.expect_punct(")")?;
            self.expect_punct(")")?;
        }
        Ok(attrs)
    }

    /// Skips a parenthesized group, nesting included (function parameter lists).
    pub(super) fn skip_balanced(&mut self) -> Result<(), CError> {
        let line = self.line();
        self.expect_punct("(")?;
        let mut level = 1u32;
        while level > 0 {
            match self.bump() {
                Tok::Punct("(") => level += 1,
                Tok::Punct(")") => level -= 1,
                Tok::Eof => return Err(self.error(line, "unclosed `(`")),
                _ => {}
            }
        }
        Ok(())
    }

    /// `struct`/`union` already consumed. Returns the type and whether a body was given.
    pub(super) fn struct_spec(&mut self, is_union: bool) -> Result<(CType, bool), CError> {
        let kw = if is_union { "union" } else { "struct" };
        let line = self.line();
        let mut attrs = self.attributes()?;
        let name = match self.peek() {
            Tok::Ident(w) if !is_keyword(w) => {
                let w = w.clone();
                self.bump();
                Some(w)
            }
            _ => None,
        };
        attrs.merge(self.attributes()?);
        if let Some(n) = &name {
            match self.types.tags.get(n) {
                None => {
                    // Declares the tag (forward declaration, or the start of its definition so
                    // that the body can point at itself).
                    self.types.tags.insert(
                        n.clone(),
                        Tag::Struct {
                            is_union,
                            def: None,
                        },
                    );
                }
                Some(Tag::Struct { is_union: u, .. }) if *u == is_union => {}
                Some(_) => {
                    return Err(self.error(
                        line,
                        format!("`{n}` was declared before as a different kind of tag than `{kw}`"),
                    ))
                }
            }
        }
        if !self.is_punct("{") {
            let Some(n) = name else {
                return Err(self.expected(&format!("a {kw} name or `{{`")));
            };
            let ty = match self.types.struct_by_tag(&n) {
                Some(def) => CType::Struct(def),
                None => CType::Opaque { name: n, is_union },
            };
            return Ok((ty, false));
        }
        self.bump();
        self.enter()?;
        let mut decls = Vec::new();
        while !self.eat_punct("}") {
            if self.at_eof() {
                return Err(self.error(line, format!("unclosed `{kw}` body (missing `}}`)")));
            }
            if self.eat_punct(";") {
                continue;
            }
            self.field_declaration(&mut decls)?;
        }
        self.leave();
        attrs.merge(self.attributes()?);
        let def = layout(line, name.clone(), is_union, decls, attrs)
            .map_err(|(l, m)| self.error(l, m))?;
        let def = match &name {
            Some(n) => {
                if let Some(Tag::Struct { def: Some(old), .. }) = self.types.tags.get(n) {
                    if **old == def {
                        return Ok((CType::Struct(old.clone()), true));
                    }
                    return Err(
                        self.error(line, format!("`{kw} {n}` redefined with a different body"))
                    );
                }
                let def = Rc::new(def);
                self.types.tags.insert(
                    n.clone(),
                    Tag::Struct {
                        is_union,
                        def: Some(def.clone()),
                    },
                );
                def
            }
            None => Rc::new(def),
        };
        self.types.structs.push(def.clone());
        Ok((CType::Struct(def), true))
    }

    pub(super) fn field_declaration(&mut self, out: &mut Vec<FieldDecl>) -> Result<(), CError> {
        let line = self.line();
        let spec = self.decl_spec()?;
        if spec.storage.is_some() {
            return Err(self.error(
                line,
                "storage class (typedef/static/extern) in a struct body",
            ));
        }
        if self.eat_punct(";") {
            // C11 anonymous struct/union member.
            if spec.defined_body && matches!(&spec.ty, CType::Struct(d) if d.name.is_none()) {
                out.push(FieldDecl {
                    name: None,
                    ty: spec.ty,
                    bits: None,
                    attrs: spec.attrs,
                    line,
                });
                return Ok(());
            }
            if spec.defined_body {
                // `struct inner { .. };` nested in a body only declares the tag, as in C.
                return Ok(());
            }
            return Err(self.error(
                line,
                "declaration does not declare a field (missing field name?)",
            ));
        }
        loop {
            let decl = self.declarator(DeclMode::Optional)?;
            let dline = decl.line;
            let name = decl.name().map(str::to_string);
            let applied = decl.apply(spec.ty.clone(), dline)?;
            let label = name.as_deref().unwrap_or("<unnamed>");
            if applied.is_function {
                return Err(self.error(
                    dline,
                    format!("field `{label}` has function type; use a function pointer"),
                ));
            }
            let bits = if self.eat_punct(":") {
                let bline = self.line();
                let w = self.const_expr()?;
                if !applied.ty.is_integer() {
                    return Err(self.error(
                        bline,
                        format!(
                            "bitfield `{label}` must have an integer type, not `{}`",
                            applied.ty.c_name()
                        ),
                    ));
                }
                // LuaJIT limits bitfields to types of at most 32 bits and `bool` to one bit
                // (`lj_cparse.c`, CTBSZ_MAX); GCC is more liberal, LuaJIT decides.
                if applied.ty.size() > 4 {
                    return Err(self.error(
                        bline,
                        format!("bitfield `{label}`: LuaJIT supports bitfields of at most 32-bit types, not `{}`", applied.ty.c_name()),
                    ));
                }
                let max = if applied.ty == CType::Bool {
                    1
                } else {
                    i64::from(applied.ty.size()) * 8
                };
                if !(0..=max).contains(&w) {
                    return Err(self.error(
                        bline,
                        format!("bitfield `{label}` width {w} is out of range 0..={max}"),
                    ));
                }
                if w == 0 && name.is_some() {
                    return Err(
                        self.error(bline, format!("named bitfield `{label}` has zero width"))
                    );
                }
                Some(w as u32)
            } else {
                if name.is_none() {
                    return Err(self.expected("a field name"));
                }
                None
            };
            let mut attrs = spec.attrs;
            attrs.merge(decl.all_attrs());
            attrs.merge(self.attributes()?);
            out.push(FieldDecl {
                name,
                ty: applied.ty,
                bits,
                attrs,
                line: dline,
            });
            if self.eat_punct(",") {
                continue;
            }
            if self.eat_punct(";") {
                return Ok(());
            }
            return Err(self.expected("`,` or `;` after a field"));
        }
    }

    /// `enum` already consumed.
    pub(super) fn enum_spec(&mut self) -> Result<(CType, bool), CError> {
        let line = self.line();
        self.attributes()?;
        let name = match self.peek() {
            Tok::Ident(w) if !is_keyword(w) => {
                let w = w.clone();
                self.bump();
                Some(w)
            }
            _ => None,
        };
        self.attributes()?;
        if !self.eat_punct("{") {
            let Some(n) = name else {
                return Err(self.expected("an enum name or `{`"));
            };
            return match self.types.tags.get(&n) {
                Some(Tag::Enum { signed }) => Ok((int(4, *signed), false)),
                Some(Tag::Struct { .. }) => Err(self.error(
                    line,
                    format!("`{n}` was declared before as a struct/union, not an enum"),
                )),
                None => Err(self.error(line, format!("unknown enum `{n}` (define it first)"))),
            };
        }
        let mut next: i64 = 0;
        let mut signed = false;
        loop {
            if self.eat_punct("}") {
                break;
            }
            let cline = self.line();
            let cname = match self.bump() {
                Tok::Ident(w) if !is_keyword(&w) => w,
                _ => {
                    self.pos = self.pos.saturating_sub(1);
                    return Err(self.expected("an enumerator name"));
                }
            };
            if self.eat_punct("=") {
                next = self.const_expr()?;
                if next < 0 {
                    signed = true;
                }
            }
            if !(i64::from(i32::MIN)..=i64::from(u32::MAX)).contains(&next) {
                return Err(self.error(
                    cline,
                    format!("enumerator `{cname}` = {next} does not fit in 32 bits"),
                ));
            }
            self.add_constant(&cname, next, cline)?;
            next = next.saturating_add(1);
            if !self.eat_punct(",") {
                self.expect_punct("}")?;
                break;
            }
        }
        self.attributes()?;
        if let Some(n) = &name {
            match self.types.tags.get(n) {
                Some(Tag::Enum { signed: s }) if *s == signed => {}
                None => {
                    self.types.tags.insert(n.clone(), Tag::Enum { signed });
                }
                Some(_) => {
                    return Err(self.error(line, format!("enum `{n}` redefined differently")))
                }
            }
        }
        Ok((int(4, signed), true))
    }
}

/// Combines integer keywords (`unsigned long long int`, `signed char`, `_Bool`...) into a type.
fn int_from_words(words: &[String]) -> Result<CType, String> {
    let count = |w: &str| words.iter().filter(|x| x.as_str() == w).count();
    let signed = count("signed") + count("__signed") + count("__signed__");
    let unsigned = count("unsigned");
    let (chars, shorts, ints, longs) = (count("char"), count("short"), count("int"), count("long"));
    let (void, bools) = (count("void"), count("bool") + count("_Bool"));
    let spelled = words.join(" ");
    if count("float") + count("double") > 0 {
        return Err(format!(
            "`{spelled}`: floating point types are not supported (BPF has no floating point)"
        ));
    }
    let bad = || format!("invalid type `{spelled}`");
    if signed + unsigned > 1 || chars > 1 || shorts > 1 || ints > 1 || longs > 2 {
        return Err(bad());
    }
    let sign_given = signed + unsigned == 1;
    if void + bools > 0 {
        if words.len() != 1 {
            return Err(bad());
        }
        return Ok(if void == 1 { CType::Void } else { CType::Bool });
    }
    let size = match (chars, shorts, longs) {
        (1, 0, 0) if ints == 0 => 1,
        (0, 1, 0) => 2,
        (0, 0, 0) => 4,
        (0, 0, 1 | 2) => 8,
        _ => return Err(bad()),
    };
    if size == 1 && !sign_given {
        // Plain char: signed on x86-64, but a distinct type.
        return Ok(CType::Int {
            size: 1,
            signed: true,
            is_char: true,
        });
    }
    Ok(int(size, unsigned == 0))
}

#[cfg(test)]
mod tests {
    use crate::ctype::CTypes;

    #[test]
    fn int_spellings() {
        let t = CTypes::new();
        for (s, size, signed) in [
            ("char", 1, true),
            ("signed char", 1, true),
            ("unsigned char", 1, false),
            ("short", 2, true),
            ("unsigned short int", 2, false),
            ("int", 4, true),
            ("unsigned", 4, false),
            ("long", 8, true),
            ("long int", 8, true),
            ("unsigned long", 8, false),
            ("long long", 8, true),
            ("unsigned long long int", 8, false),
            ("long unsigned int", 8, false),
            ("uint32_t", 4, false),
            ("__be16", 2, false),
            ("size_t", 8, false),
            ("ssize_t", 8, true),
            ("const volatile int", 4, true),
        ] {
            let ty = t.parse_type(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!((ty.size(), ty.is_signed()), (size, signed), "{s}");
        }
        assert!(t.parse_type("long long long").is_err());
        assert!(t.parse_type("signed unsigned").is_err());
        assert!(t.parse_type("double").is_err());
    }
}
