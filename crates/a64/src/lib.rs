//! xarch-a64
pub mod state;
