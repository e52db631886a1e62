//! Tracepoint `format` files (`/sys/kernel/tracing/events/<category>/<name>/format`): the
//! field lines both the compiler (layouts at build time) and the runtime (layouts of the loading
//! kernel, for relocation) read. The kernel writes them in `kernel/trace/trace_events.c`
//! (`f_show`): `\tfield:<decl>;\toffset:<n>;\tsize:<n>;\tsigned:<0|1>;`.

/// One `field:` line, as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldLine {
    /// The C declaration, e.g. `char prev_comm[16]` or `__data_loc char[] filename`.
    pub decl: String,
    /// Byte offset in the record.
    pub offset: u32,
    /// Size in bytes.
    pub size: u32,
    /// The `signed:` flag (absent before Linux 2.6.33: false).
    pub signed: bool,
}

impl FieldLine {
    /// The field's name: the declaration's last identifier outside array brackets
    /// (`char comm[16]` → `comm`, `__data_loc char[] filename` → `filename`).
    pub fn name(&self) -> &str {
        let mut depth = 0usize;
        let mut last = "";
        let mut start = None;
        for (i, c) in self.decl.char_indices().chain([(self.decl.len(), ' ')]) {
            let ident = c.is_ascii_alphanumeric() || c == '_';
            match (ident && depth == 0, start) {
                (true, None) => start = Some(i),
                (false, Some(s)) => {
                    last = &self.decl[s..i];
                    start = None;
                }
                _ => {}
            }
            match c {
                '[' => depth += 1,
                ']' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        last
    }
}

/// Parses a `field:` (or `field special:`) line.
pub fn parse_field_line(line: &str) -> Result<FieldLine, String> {
    let mut decl = None;
    let (mut offset, mut size, mut signed) = (None, None, None);
    for part in line.split(';') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (key, value) = part
            .split_once(':')
            .ok_or_else(|| format!("expected `key:value`, found `{part}`"))?;
        let value = value.trim();
        let num = |what: &str| -> Result<u32, String> {
            value
                .parse()
                .map_err(|_| format!("expected a number after `{what}:`, found `{value}`"))
        };
        match key.trim() {
            "field" | "field special" => decl = Some(value.to_string()),
            "offset" => offset = Some(num("offset")?),
            "size" => size = Some(num("size")?),
            "signed" => signed = Some(num("signed")? != 0),
            // Unknown keys from future kernels: ignore, the known ones suffice.
            _ => {}
        }
    }
    Ok(FieldLine {
        decl: decl.ok_or("missing `field:`")?,
        offset: offset.ok_or("missing `offset:`")?,
        size: size.ok_or("missing `size:`")?,
        signed: signed.unwrap_or(false),
    })
}

/// Every `field:` line of a format file, skipping lines that do not parse.
pub fn fields(text: &str) -> Vec<FieldLine> {
    text.lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("print fmt:"))
        .filter(|l| l.starts_with("field:") || l.starts_with("field special:"))
        .filter_map(|l| parse_field_line(l).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        let text = "name: x\nID: 7\nformat:\n\
            \tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\
            \tfield:char comm[16];\toffset:8;\tsize:16;\tsigned:0;\n\
            \tfield:__data_loc char[] filename;\toffset:24;\tsize:4;\tsigned:0;\n\
            \tfield:pid_t pid;\toffset:28;\tsize:4;\tsigned:1;\n\nprint fmt: \"%d\", REC->pid\n";
        let f = fields(text);
        let names: Vec<&str> = f.iter().map(|f| f.name()).collect();
        assert_eq!(names, ["common_type", "comm", "filename", "pid"]);
        assert_eq!((f[3].offset, f[3].size, f[3].signed), (28, 4, true));
        assert!(parse_field_line("field:int x; offset:zz; size:4;").is_err());
    }
}
