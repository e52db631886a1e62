//! Integer constant expressions (array sizes, enum values, bitfield widths), evaluated as `i64`.

use super::declarator::DeclMode;
use super::lex::Tok;
use super::parse::Parser;
use super::CError;

impl Parser<'_> {
    pub(super) fn const_expr(&mut self) -> Result<i64, CError> {
        self.enter()?;
        let r = self.ternary();
        self.leave();
        r
    }

    pub(super) fn ternary(&mut self) -> Result<i64, CError> {
        let c = self.binary(0)?;
        if self.eat_punct("?") {
            let a = self.const_expr()?;
            self.expect_punct(":")?;
            let b = self.const_expr()?;
            return Ok(if c != 0 { a } else { b });
        }
        Ok(c)
    }

    /// The binary operator at the current token and its C precedence (higher binds tighter).
    pub(super) fn binary_op(&self) -> Option<(&'static str, u8)> {
        let Tok::Punct(p) = self.peek() else {
            return None;
        };
        let prec = match *p {
            "||" => 1,
            "&&" => 2,
            "|" => 3,
            "^" => 4,
            "&" => 5,
            "==" | "!=" => 6,
            "<" | ">" | "<=" | ">=" => 7,
            "<<" | ">>" => 8,
            "+" | "-" => 9,
            "*" | "/" | "%" => 10,
            _ => return None,
        };
        Some((p, prec))
    }

    /// Precedence climbing over C's binary operators.
    pub(super) fn binary(&mut self, min_prec: u8) -> Result<i64, CError> {
        let mut lhs = self.unary()?;
        while let Some((op, prec)) = self.binary_op() {
            if prec < min_prec {
                break;
            }
            let line = self.line();
            self.bump();
            self.enter()?;
            let rhs = self.binary(prec + 1);
            self.leave();
            let rhs = rhs?;
            lhs = match op {
                "||" => i64::from(lhs != 0 || rhs != 0),
                "&&" => i64::from(lhs != 0 && rhs != 0),
                "|" => lhs | rhs,
                "^" => lhs ^ rhs,
                "&" => lhs & rhs,
                "==" => i64::from(lhs == rhs),
                "!=" => i64::from(lhs != rhs),
                "<" => i64::from(lhs < rhs),
                ">" => i64::from(lhs > rhs),
                "<=" => i64::from(lhs <= rhs),
                ">=" => i64::from(lhs >= rhs),
                "<<" => lhs.wrapping_shl((rhs & 63) as u32),
                ">>" => lhs.wrapping_shr((rhs & 63) as u32),
                "+" => lhs.wrapping_add(rhs),
                "-" => lhs.wrapping_sub(rhs),
                "*" => lhs.wrapping_mul(rhs),
                "/" | "%" => {
                    if rhs == 0 {
                        return Err(self.error(line, "division by zero in constant expression"));
                    }
                    if op == "/" {
                        lhs.wrapping_div(rhs)
                    } else {
                        lhs.wrapping_rem(rhs)
                    }
                }
                other => {
                    return Err(self.error(line, format!("internal: operator `{other}` unhandled")))
                }
            };
        }
        Ok(lhs)
    }

    pub(super) fn unary(&mut self) -> Result<i64, CError> {
        self.enter()?;
        let r = self.unary_inner();
        self.leave();
        r
    }

    pub(super) fn unary_inner(&mut self) -> Result<i64, CError> {
        let line = self.line();
        match self.peek().clone() {
            Tok::Punct("-") => {
                self.bump();
                Ok(self.unary()?.wrapping_neg())
            }
            Tok::Punct("+") => {
                self.bump();
                self.unary()
            }
            Tok::Punct("~") => {
                self.bump();
                Ok(!self.unary()?)
            }
            Tok::Punct("!") => {
                self.bump();
                Ok(i64::from(self.unary()? == 0))
            }
            Tok::Punct("(") => {
                self.bump();
                if self.starts_type() {
                    return Err(self.error(line, "casts are not supported in constant expressions"));
                }
                let v = self.const_expr()?;
                self.expect_punct(")")?;
                Ok(v)
            }
            Tok::Num(n) => {
                self.bump();
                // Wraps like C's unsigned long long literals above i64::MAX.
                Ok(n as i64)
            }
            Tok::Ident(w) => {
                if matches!(
                    w.as_str(),
                    "sizeof" | "_Alignof" | "__alignof__" | "alignof"
                ) {
                    self.bump();
                    self.expect_punct("(")?;
                    let tline = self.line();
                    let spec = self.decl_spec()?;
                    let decl = self.declarator(DeclMode::Abstract)?;
                    self.expect_punct(")")?;
                    let t = decl.apply(spec.ty, tline)?.ty;
                    return Ok(i64::from(if w == "sizeof" { t.size() } else { t.align() }));
                }
                match self.types.constant(&w) {
                    Some(v) => {
                        self.bump();
                        Ok(v)
                    }
                    None => Err(self.error(
                        line,
                        format!("unknown constant `{w}` in constant expression"),
                    )),
                }
            }
            _ => Err(self.expected("a constant expression")),
        }
    }
}
