//! Writers for the pipeline's outputs.

pub mod elf;
pub mod listing;
pub mod rust;
