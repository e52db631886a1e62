//! `ljbpf check`: every program of a probe file through the running kernel's verifier.
//!
//! The table this prints is how the compiler is measured (instructions, verifier-processed
//! instructions, stack), so its format is stable: one header line, one row per program in the
//! probe's program order, columns separated by two spaces, then one paragraph per rejected
//! program with the verifier's words and the Lua line.

use std::path::Path;
use std::process::ExitCode;

use ljbpf_build::Options;

use crate::Failure;

/// One program's result, independent of the runtime's types so that formatting is testable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub name: String,
    pub kind: String,
    pub insns: u32,
    /// Instructions the verifier processed; `None` when it did not say (rejected early).
    pub processed: Option<u32>,
    pub stack_bytes: u32,
    /// The verifier's rejection, as the runtime formats it (its log and the Lua `file:line`).
    pub error: Option<String>,
}

pub fn run(file: &Path, opts: &Options, json: bool) -> Result<ExitCode, Failure> {
    let probe = crate::compile(file, opts)?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Err(Failure::Other(
            "check loads programs into the kernel with the bpf() syscall, which needs root; \
             run it as root"
                .to_owned(),
        ));
    }
    let spec = ljbpf_cli::spec(&probe);
    let rows: Vec<Row> = ljbpf_runtime::check(spec)
        .map_err(|e| Failure::Other(ljbpf_cli::chain(&e)))?
        .into_iter()
        .map(|row| Row {
            name: row.name.to_owned(),
            kind: row.kind.to_owned(),
            insns: row.insns,
            processed: row.processed,
            stack_bytes: row.stack_bytes,
            error: row.verdict.err().map(|e| ljbpf_cli::chain(&e)),
        })
        .collect();
    if json {
        println!("{}", to_json(&rows));
    } else {
        print!("{}", table(&rows));
    }
    if rows.iter().any(|r| r.error.is_some()) {
        Ok(ExitCode::from(1))
    } else {
        Ok(ExitCode::SUCCESS)
    }
}

const HEADER: [&str; 6] = ["PROGRAM", "KIND", "INSNS", "PROCESSED", "STACK", "VERDICT"];

/// The aligned table, then a paragraph per rejected program.
pub fn table(rows: &[Row]) -> String {
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            [
                r.name.clone(),
                r.kind.clone(),
                r.insns.to_string(),
                r.processed
                    .map_or_else(|| "-".to_owned(), |n| n.to_string()),
                r.stack_bytes.to_string(),
                verdict(r).to_owned(),
            ]
        })
        .collect();
    let mut widths = HEADER.map(str::len);
    for row in &cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    let header = HEADER.map(str::to_owned);
    for row in std::iter::once(&header).chain(&cells) {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            // Names and kinds read left to right; numbers line up on their last digit.
            match i {
                0 | 1 | 5 => line.push_str(&format!("{cell:<w$}")),
                _ => line.push_str(&format!("{cell:>w$}")),
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    for r in rows {
        if let Some(error) = &r.error {
            out.push_str(&format!("\n{}\n", error.trim_end()));
        }
    }
    out
}

fn verdict(row: &Row) -> &'static str {
    if row.error.is_some() {
        "rejected"
    } else {
        "ok"
    }
}

/// A JSON array of one object per program.
pub fn to_json(rows: &[Row]) -> String {
    let array: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "name": r.name,
                "kind": r.kind,
                "insns": r.insns,
                "processed": r.processed,
                "stack_bytes": r.stack_bytes,
                "verdict": verdict(r),
                "error": r.error,
            })
        })
        .collect();
    serde_json::to_string_pretty(&array).expect("JSON values always serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Vec<Row> {
        vec![
            Row {
                name: "on_enter".into(),
                kind: "tracepoint".into(),
                insns: 12,
                processed: Some(130),
                stack_bytes: 8,
                error: None,
            },
            Row {
                name: "f".into(),
                kind: "socket_filter".into(),
                insns: 3,
                processed: None,
                stack_bytes: 0,
                error: Some(
                    "program f rejected by the verifier at bad.lua:7 (insn 2): invalid bpf_context \
                     access off=16384 size=8\n  2: (79) r0 = *(u64 *)(r1 +16384)"
                        .into(),
                ),
            },
        ]
    }

    #[test]
    fn table_is_aligned_and_lists_rejections_below() {
        let expected = "\
PROGRAM   KIND           INSNS  PROCESSED  STACK  VERDICT
on_enter  tracepoint        12        130      8  ok
f         socket_filter      3          -      0  rejected

program f rejected by the verifier at bad.lua:7 (insn 2): invalid bpf_context access off=16384 size=8
  2: (79) r0 = *(u64 *)(r1 +16384)
";
        assert_eq!(table(&rows()), expected);
    }

    #[test]
    fn json_has_one_object_per_program() {
        let value: serde_json::Value = serde_json::from_str(&to_json(&rows())).unwrap();
        let array = value.as_array().unwrap();
        assert_eq!(array.len(), 2);
        assert_eq!(array[0]["name"], "on_enter");
        assert_eq!(array[0]["processed"], 130);
        assert_eq!(array[0]["verdict"], "ok");
        assert!(array[0]["error"].is_null());
        assert_eq!(array[1]["verdict"], "rejected");
        assert!(array[1]["processed"].is_null());
        assert!(array[1]["error"].as_str().unwrap().contains("bad.lua:7"));
    }
}
