//! Helpers shared by the JIT's integration tests.

pub mod tiers;
