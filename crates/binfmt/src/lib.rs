//! xarch-binfmt
