//! The Rust functions the prelude hands to the probe file's top level: `ffi.cdef`, `typeof`,
//! `sizeof`, `alignof`, `offsetof` and `ffi.C.<constant>` answered by ljbpf's own C type model
//! ([`CTypes`]), the `print` sink, and the limit flag the prelude's `pcall` checks.
//!
//! None of them fails with a Lua error: each answers with values (`nil` and a message for a
//! bad type), so the prelude says where the mistake is, at the probe file's line.

use std::cell::RefCell;
use std::rc::Rc;

use mlua::{Lua, LuaString, Table};

use crate::ctype::{CType, CTypes};
use ljbpf_core::map::MapKind;

/// Most bytes of top-level `print` output kept (what is past it is dropped, with a note).
pub const PRINT_BUDGET: usize = 1 << 20;

/// What the top level declared and printed, shared between the host functions and the loader.
#[derive(Default)]
pub struct HostState {
    /// The C type registry, as the accepted cdefs built it.
    pub ctypes: CTypes,
    /// Every accepted `ffi.cdef` text (lossy UTF-8) with the file line its text starts at.
    pub cdefs: Vec<(String, u32)>,
    /// Top-level `print` lines, as bytes.
    pub prints: Vec<Vec<u8>>,
    /// Bytes printed so far.
    pub printed: usize,
    /// The message of a limit that has passed (set by the instruction hook).
    pub limit: Option<String>,
}

/// Shared handle to the host state.
pub type Shared = Rc<RefCell<HostState>>;

/// Parses a type as LuaJIT's `ffi.typeof` would accept it.
fn parse(state: &Shared, name: &LuaString) -> Result<CType, String> {
    let name = name.to_string_lossy();
    state.borrow().ctypes.parse_type(&name).map_err(|e| {
        // Name the type unless the message already does.
        if e.message.contains(&format!("`{name}`")) {
            e.message
        } else {
            format!("{} (in `{name}`)", e.message)
        }
    })
}

/// The file line a cdef text starts at, when the text is written in the file at the call
/// (`ffi.cdef[[ ... ]]`): LuaJIT gives a call the line where its arguments end, so the text
/// starts as many lines earlier as it has line breaks, and that line holds the text's first
/// line. `None` for a text built at run time.
fn first_line(source: &[u8], text: &str, call_line: u32) -> Option<u32> {
    let breaks = u32::try_from(text.matches('\n').count()).ok()?;
    let first = call_line.checked_sub(breaks).filter(|&l| l >= 1)?;
    let line = source.split(|&b| b == b'\n').nth(first as usize - 1)?;
    let line = String::from_utf8_lossy(line);
    let head = text.lines().next().unwrap_or("").trim();
    (head.is_empty() || line.contains(head)).then_some(first)
}

/// The table of host functions the prelude receives as its argument; `source` is the probe
/// file's text.
pub fn table(lua: &Lua, state: &Shared, source: &[u8]) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let source = source.to_vec();
    let s = state.clone();
    t.set(
        "cdef",
        lua.create_function(move |_, (src, call_line): (LuaString, i64)| {
            // Probe files are bytes: a non-UTF-8 byte becomes U+FFFD here, which no C
            // identifier accepts, so it is an error at its line.
            let text = src.to_string_lossy();
            let call_line = u32::try_from(call_line).unwrap_or(0);
            let first = first_line(&source, &text, call_line);
            let mut st = s.borrow_mut();
            match st.ctypes.cdef(&text) {
                Ok(()) => {
                    st.cdefs.push((text, first.unwrap_or(call_line)));
                    Ok((None, None))
                }
                Err(e) => Ok(match first {
                    Some(first) => (
                        Some(first.saturating_add(e.line.saturating_sub(1))),
                        Some(e.message),
                    ),
                    None => (
                        Some(call_line),
                        Some(format!(
                            "line {} of the declarations: {}",
                            e.line, e.message
                        )),
                    ),
                }),
            }
        })?,
    )?;
    let s = state.clone();
    t.set(
        "typeof",
        lua.create_function(move |_, name: LuaString| match parse(&s, &name) {
            Ok(ty) => Ok((Some(ty.c_name()), None)),
            Err(e) => Ok((None, Some(e))),
        })?,
    )?;
    let s = state.clone();
    t.set(
        "sizeof",
        lua.create_function(move |_, name: LuaString| {
            // LuaJIT: nil for a type without a size (void, a flexible array).
            Ok(parse(&s, &name)
                .ok()
                .filter(|t| !matches!(t, CType::Void))
                .map(|t| t.size()))
        })?,
    )?;
    let s = state.clone();
    t.set(
        "alignof",
        lua.create_function(move |_, name: LuaString| {
            Ok(parse(&s, &name).ok().map(|t| t.align()))
        })?,
    )?;
    let s = state.clone();
    t.set(
        "offsetof",
        lua.create_function(move |_, (name, field): (LuaString, LuaString)| {
            let field = field.to_string_lossy();
            let Some(f) = parse(&s, &name).ok().and_then(|t| t.field(&field)) else {
                return Ok((None, None, None));
            };
            // LuaJIT adds the bit position and width for a bitfield.
            Ok(match f.bits {
                Some((pos, width)) => (Some(f.offset), Some(pos), Some(width)),
                None => (Some(f.offset), None, None),
            })
        })?,
    )?;
    let s = state.clone();
    t.set(
        "constant",
        lua.create_function(move |_, name: LuaString| {
            Ok(s.borrow()
                .ctypes
                .constant(&name.to_string_lossy())
                .map(|v| v as f64))
        })?,
    )?;
    let s = state.clone();
    t.set(
        "print",
        lua.create_function(move |_, text: LuaString| {
            let mut st = s.borrow_mut();
            let bytes = text.as_bytes();
            if st.printed < PRINT_BUDGET {
                st.printed += bytes.len();
                if st.printed >= PRINT_BUDGET {
                    st.prints.push(
                        format!("(print output past {} KiB left out)", PRINT_BUDGET >> 10).into(),
                    );
                } else {
                    st.prints.push(bytes.to_vec());
                }
            }
            Ok(())
        })?,
    )?;
    let s = state.clone();
    t.set(
        "limit",
        lua.create_function(move |_, ()| Ok(s.borrow().limit.clone()))?,
    )?;
    // The map kinds `bpf.map` accepts come from the one table of them.
    let kinds = lua.create_table()?;
    for k in MapKind::ALL {
        kinds.set(k.name(), true)?;
    }
    t.set("map_kinds", kinds)?;
    Ok(t)
}
