//! xarch-ir
