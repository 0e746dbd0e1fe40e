//! xarch-linux
