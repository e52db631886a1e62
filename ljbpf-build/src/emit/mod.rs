//! Writers for the pipeline's outputs (the ELF writer itself is `ljbpf_core::elf`, shared with
//! the runtime's tests).

pub mod btf;
pub mod listing;
pub mod rust;
