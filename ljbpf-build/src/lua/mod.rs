//! Stages 1–2: run the probe file in LuaJIT, read program functions' bytecode.
//!
//! `evaluate` runs the top level in a LuaJIT state whose probe environment holds only a
//! description API (`prelude.lua`, with the C type model behind it in `host`), and reads the
//! declarations as plain data; `isolate` runs that in a child process and `wire` carries the
//! answer back; `load` checks the declarations; `decode` and `bc` are the bytecode.

pub mod bc;
pub mod decode;
pub mod evaluate;
pub mod host;
pub mod isolate;
pub mod load;
pub mod wire;
