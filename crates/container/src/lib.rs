//! xarch-container
