//! The evaluator's answer ([`Outcome`]) as bytes, for the pipe from the child process
//! (`isolate`) to the compiler.
//!
//! Little-endian, length-prefixed, no padding. The reader trusts nothing: every count is checked
//! against the bytes left before anything is allocated for it, strings must be UTF-8 where Rust
//! wants a `String`, tables nest at most [`MAX_DEPTH`] deep, and trailing bytes are an error. A
//! child that was made to write garbage gives a clean error, never a panic or a huge allocation.

use crate::diag::{Diagnostic, Diagnostics, Span};

use super::bc::Ins;
use super::decode::{Const, Proto};
use super::evaluate::{Evaluated, Outcome, RawField, RawMap, RawProgram, Returned};

/// Deepest nesting of `Const::Table` accepted.
const MAX_DEPTH: u32 = 8;

const MAGIC: &[u8; 8] = b"ljbpf-w1";

/// Encodes an outcome.
pub fn encode(o: &Outcome) -> Vec<u8> {
    let mut w = Writer(Vec::new());
    w.0.extend_from_slice(MAGIC);
    w.len(o.prints.len());
    for p in &o.prints {
        w.bytes(p);
    }
    match &o.result {
        Ok(ev) => {
            w.u8(0);
            w.evaluated(ev);
        }
        Err(d) => {
            w.u8(1);
            w.diagnostics(&d.0);
        }
    }
    w.0
}

/// Decodes what [`encode`] wrote; `Err` says what was wrong with the bytes.
pub fn decode(bytes: &[u8]) -> Result<Outcome, String> {
    let mut r = Reader { b: bytes, at: 0 };
    if r.take(MAGIC.len())? != MAGIC {
        return Err("the answer does not start with the expected header".into());
    }
    let n = r.count()?;
    let mut prints = Vec::with_capacity(n);
    for _ in 0..n {
        prints.push(r.bytes()?.to_vec());
    }
    let result = match r.u8()? {
        0 => Ok(r.evaluated()?),
        1 => Err(Diagnostics(r.diagnostics()?)),
        t => return Err(format!("unknown result tag {t}")),
    };
    if r.at != r.b.len() {
        return Err(format!("{} bytes after the answer", r.b.len() - r.at));
    }
    Ok(Outcome { prints, result })
}

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn len(&mut self, n: usize) {
        self.u32(u32::try_from(n).unwrap_or(u32::MAX));
    }
    fn bytes(&mut self, b: &[u8]) {
        self.len(b.len());
        self.0.extend_from_slice(b);
    }
    fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
    fn opt_str(&mut self, s: Option<&str>) {
        match s {
            Some(s) => {
                self.u8(1);
                self.str(s);
            }
            None => self.u8(0),
        }
    }
    fn field(&mut self, f: &RawField) {
        match f {
            RawField::Nil => self.u8(0),
            RawField::Number(n) => {
                self.u8(1);
                self.u64(n.to_bits());
            }
            RawField::String(s) => {
                self.u8(2);
                self.str(s);
            }
            RawField::Other(t) => {
                self.u8(3);
                self.str(t);
            }
        }
    }
    fn diagnostics(&mut self, ds: &[Diagnostic]) {
        self.len(ds.len());
        for d in ds {
            self.str(&d.span.file);
            self.u32(d.span.line);
            self.str(&d.message);
            self.opt_str(d.hint.as_deref());
        }
    }
    fn evaluated(&mut self, ev: &Evaluated) {
        self.len(ev.cdefs.len());
        for (src, line) in &ev.cdefs {
            self.str(src);
            self.u32(*line);
        }
        self.len(ev.maps.len());
        for m in &ev.maps {
            self.str(&m.kind);
            self.u32(m.max_entries);
            self.str(&m.key);
            self.str(&m.value);
            self.opt_str(m.show.as_deref());
            self.u32(m.line);
        }
        self.len(ev.returned.len());
        for (name, r) in &ev.returned {
            self.str(name);
            match r {
                Returned::Map { id, line } => {
                    self.u8(0);
                    self.u32(*id);
                    self.u32(*line);
                }
                Returned::Program(p) => {
                    self.u8(1);
                    self.str(&p.kind);
                    self.opt_str(p.target.as_deref());
                    self.u8(u8::from(p.ret));
                    self.opt_str(p.direction.as_deref());
                    for f in &p.perf {
                        self.field(f);
                    }
                    self.u32(p.line);
                    self.proto(&p.proto);
                }
            }
        }
        self.diagnostics(&ev.errors);
    }
    fn proto(&mut self, p: &Proto) {
        self.u8(p.params);
        self.u8(p.stackslots);
        self.u32(p.first_line);
        self.len(p.ins.len());
        for (ins, line) in &p.ins {
            // The word LuaJIT stores: OP | A << 8 | D << 16 (B and C are D's halves).
            self.u32(ins.op as u32 | u32::from(ins.a) << 8 | u32::from(ins.d) << 16);
            self.u32(*line);
        }
        self.len(p.knum.len());
        for n in &p.knum {
            self.u64(n.to_bits());
        }
        self.len(p.kgc.len());
        for k in &p.kgc {
            self.constant(k);
        }
        self.len(p.upvalues.len());
        for (name, k) in &p.upvalues {
            self.str(name);
            self.constant(k);
        }
    }
    fn constant(&mut self, c: &Const) {
        match c {
            Const::Nil => self.u8(0),
            Const::Bool(b) => {
                self.u8(1);
                self.u8(u8::from(*b));
            }
            Const::Num(n) => {
                self.u8(2);
                self.u64(n.to_bits());
            }
            Const::Str(s) => {
                self.u8(3);
                self.bytes(s);
            }
            Const::Int64(v) => {
                self.u8(4);
                self.u64(*v as u64);
            }
            Const::UInt64(v) => {
                self.u8(5);
                self.u64(*v);
            }
            Const::Map(id) => {
                self.u8(6);
                self.u32(*id);
            }
            Const::CType(s) => {
                self.u8(7);
                self.str(s);
            }
            Const::Lib(s) => {
                self.u8(8);
                self.str(s);
            }
            Const::Table(fields) => {
                self.u8(9);
                self.len(fields.len());
                for (k, v) in fields {
                    self.str(k);
                    self.constant(v);
                }
            }
            Const::Other(s) => {
                self.u8(10);
                self.str(s);
            }
        }
    }
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.b.len())
            .ok_or_else(|| format!("the answer ends early (at byte {})", self.at))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, String> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }
    /// A count of items that each take at least one byte: never more than the bytes left.
    fn count(&mut self) -> Result<usize, String> {
        let n = self.u32()? as usize;
        if n > self.b.len() - self.at {
            return Err(format!("a count of {n} items with fewer bytes left"));
        }
        Ok(n)
    }
    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    fn string(&mut self) -> Result<String, String> {
        String::from_utf8(self.bytes()?.to_vec()).map_err(|_| "a text that is not UTF-8".into())
    }
    fn opt_string(&mut self) -> Result<Option<String>, String> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.string()?)),
            t => Err(format!("bad option tag {t}")),
        }
    }
    fn bool(&mut self) -> Result<bool, String> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            t => Err(format!("bad boolean {t}")),
        }
    }
    fn field(&mut self) -> Result<RawField, String> {
        Ok(match self.u8()? {
            0 => RawField::Nil,
            1 => RawField::Number(f64::from_bits(self.u64()?)),
            2 => RawField::String(self.string()?),
            3 => RawField::Other(self.string()?),
            t => return Err(format!("unknown field tag {t}")),
        })
    }
    fn diagnostics(&mut self) -> Result<Vec<Diagnostic>, String> {
        let n = self.count()?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let file = self.string()?;
            let line = self.u32()?;
            let message = self.string()?;
            let hint = self.opt_string()?;
            out.push(Diagnostic {
                span: Span::new(file, line),
                message,
                hint,
            });
        }
        Ok(out)
    }
    fn evaluated(&mut self) -> Result<Evaluated, String> {
        let n = self.count()?;
        let mut cdefs = Vec::with_capacity(n);
        for _ in 0..n {
            cdefs.push((self.string()?, self.u32()?));
        }
        let n = self.count()?;
        let mut maps = Vec::with_capacity(n);
        for _ in 0..n {
            maps.push(RawMap {
                kind: self.string()?,
                max_entries: self.u32()?,
                key: self.string()?,
                value: self.string()?,
                show: self.opt_string()?,
                line: self.u32()?,
            });
        }
        let n = self.count()?;
        let mut returned = Vec::with_capacity(n);
        for _ in 0..n {
            let name = self.string()?;
            let r = match self.u8()? {
                0 => Returned::Map {
                    id: self.u32()?,
                    line: self.u32()?,
                },
                1 => Returned::Program(Box::new(RawProgram {
                    kind: self.string()?,
                    target: self.opt_string()?,
                    ret: self.bool()?,
                    direction: self.opt_string()?,
                    perf: [self.field()?, self.field()?, self.field()?, self.field()?],
                    line: self.u32()?,
                    proto: self.proto()?,
                })),
                t => return Err(format!("unknown declaration tag {t}")),
            };
            returned.push((name, r));
        }
        let errors = self.diagnostics()?;
        Ok(Evaluated {
            cdefs,
            maps,
            returned,
            errors,
        })
    }
    fn proto(&mut self) -> Result<Proto, String> {
        let params = self.u8()?;
        let stackslots = self.u8()?;
        let first_line = self.u32()?;
        let n = self.count()?;
        let mut ins = Vec::with_capacity(n);
        for _ in 0..n {
            let word = self.u32()?;
            let decoded =
                Ins::decode(word).ok_or_else(|| format!("unknown opcode {}", word & 0xff))?;
            ins.push((decoded, self.u32()?));
        }
        let n = self.count()?;
        let mut knum = Vec::with_capacity(n);
        for _ in 0..n {
            knum.push(f64::from_bits(self.u64()?));
        }
        let n = self.count()?;
        let mut kgc = Vec::with_capacity(n);
        for _ in 0..n {
            kgc.push(self.constant(0)?);
        }
        let n = self.count()?;
        let mut upvalues = Vec::with_capacity(n);
        for _ in 0..n {
            upvalues.push((self.string()?, self.constant(0)?));
        }
        Ok(Proto {
            params,
            stackslots,
            first_line,
            ins,
            knum,
            kgc,
            upvalues,
        })
    }
    fn constant(&mut self, depth: u32) -> Result<Const, String> {
        Ok(match self.u8()? {
            0 => Const::Nil,
            1 => Const::Bool(self.bool()?),
            2 => Const::Num(f64::from_bits(self.u64()?)),
            3 => Const::Str(self.bytes()?.to_vec()),
            4 => Const::Int64(self.u64()? as i64),
            5 => Const::UInt64(self.u64()?),
            6 => Const::Map(self.u32()?),
            7 => Const::CType(self.string()?),
            8 => Const::Lib(self.string()?),
            9 => {
                if depth >= MAX_DEPTH {
                    return Err("tables nested too deeply".into());
                }
                let n = self.count()?;
                let mut fields = Vec::with_capacity(n);
                for _ in 0..n {
                    fields.push((self.string()?, self.constant(depth + 1)?));
                }
                Const::Table(fields)
            }
            10 => Const::Other(self.string()?),
            t => return Err(format!("unknown constant tag {t}")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Outcome {
        let proto = Proto {
            params: 1,
            stackslots: 4,
            first_line: 3,
            ins: vec![(Ins::decode(0x0001_0260).expect("FUNCF"), 3)],
            knum: vec![1.5, -0.0],
            kgc: vec![Const::Str(vec![0xff, 0]), Const::CType("struct a".into())],
            upvalues: vec![(
                "t".into(),
                Const::Table(vec![
                    ("k".into(), Const::Int64(-1)),
                    ("u".into(), Const::UInt64(u64::MAX)),
                    ("m".into(), Const::Map(2)),
                    ("n".into(), Const::Nil),
                    ("b".into(), Const::Bool(true)),
                    ("l".into(), Const::Lib("bit".into())),
                    ("o".into(), Const::Other("a function".into())),
                    ("x".into(), Const::Num(7.0)),
                ]),
            )],
        };
        Outcome {
            prints: vec![b"hi\xff".to_vec()],
            result: Ok(Evaluated {
                cdefs: vec![("struct a { int x; };".into(), 2)],
                maps: vec![RawMap {
                    kind: "hash".into(),
                    max_entries: 16,
                    key: "uint32_t".into(),
                    value: "struct a".into(),
                    show: Some("log2".into()),
                    line: 4,
                }],
                returned: vec![
                    ("m".into(), Returned::Map { id: 0, line: 4 }),
                    (
                        "p".into(),
                        Returned::Program(Box::new(RawProgram {
                            kind: "tracepoint".into(),
                            target: Some("a/b".into()),
                            ret: false,
                            direction: Some("egress".into()),
                            perf: [
                                RawField::String("software".into()),
                                RawField::Number(3.0),
                                RawField::Other("table".into()),
                                RawField::Nil,
                            ],
                            line: 5,
                            proto,
                        })),
                    ),
                ],
                errors: vec![Diagnostic::new(Span::new("f.lua", 1), "m").hint("h")],
            }),
        }
    }

    #[test]
    fn round_trip() {
        let bytes = encode(&sample());
        let back = decode(&bytes).expect("decodes");
        assert_eq!(format!("{:?}", back), format!("{:?}", sample()));
    }

    #[test]
    fn every_truncation_and_corruption_is_an_error_not_a_panic() {
        let bytes = encode(&sample());
        for n in 0..bytes.len() {
            assert!(decode(&bytes[..n]).is_err(), "truncated at {n}");
        }
        for i in 0..bytes.len() {
            for v in [0u8, 0x7f, 0xff] {
                let mut b = bytes.clone();
                b[i] = v;
                let _ = decode(&b);
            }
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(decode(&long).is_err());
    }
}
