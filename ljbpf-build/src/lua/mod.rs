//! Stages 1–2: run the probe file in LuaJIT, read program functions' bytecode.

pub mod bc;
pub mod decode;
pub mod load;
