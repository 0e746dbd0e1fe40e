//! xarch-oci
