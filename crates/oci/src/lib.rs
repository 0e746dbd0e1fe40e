//! xarch-oci (API docs to be written)
pub mod auth;
pub mod digest;
pub mod error;
pub mod platform;
pub mod registry;
pub mod store;
pub mod unpack;
pub use error::{Error, Result};
