//! One module per top-level command.

pub mod binfmt;
pub mod container;
pub mod image;
pub mod run;
