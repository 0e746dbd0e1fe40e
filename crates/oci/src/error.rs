//! Errors of the image layer: one enum, each variant a clear one-line message.

use std::path::PathBuf;

/// Everything that can go wrong while pulling, storing or unpacking images.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The image reference could not be parsed.
    #[error("invalid image reference {reference:?}: {reason}")]
    Reference {
        /// What the user typed.
        reference: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The platform string could not be parsed.
    #[error("invalid platform {0:?}: expected os/arch[/variant], e.g. linux/arm64")]
    Platform(String),
    /// A digest string is malformed or uses an unsupported algorithm.
    #[error("invalid digest {0:?}: expected sha256:<64 hex digits>")]
    Digest(String),
    /// Content did not hash to the digest it was fetched by.
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        /// What was being verified (blob, manifest, layer).
        what: String,
        /// Digest it was requested by.
        expected: String,
        /// Digest of the bytes actually received.
        actual: String,
    },
    /// Content did not have the size its descriptor announced.
    #[error("size mismatch for {what}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// What was being verified.
        what: String,
        /// Size from the descriptor.
        expected: u64,
        /// Bytes actually received.
        actual: u64,
    },
    /// A registry request failed.
    #[error("registry {registry}: {message}")]
    Registry {
        /// Registry host.
        registry: String,
        /// What happened.
        message: String,
    },
    /// The registry answered 401/403 and no credentials helped.
    #[error("registry {registry}: authentication failed: {message}")]
    Auth {
        /// Registry host.
        registry: String,
        /// What happened.
        message: String,
    },
    /// The reference or blob does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// No manifest in an index matches the requested platform.
    #[error("image {reference} has no variant for platform {platform} (available: {available})")]
    NoMatchingPlatform {
        /// The image.
        reference: String,
        /// The requested platform.
        platform: String,
        /// Platforms the index offers.
        available: String,
    },
    /// A manifest, index or config is not valid JSON of the expected shape.
    #[error("invalid {what}: {message}")]
    Invalid {
        /// What was being parsed.
        what: String,
        /// The parser's complaint.
        message: String,
    },
    /// A media type this implementation does not handle.
    #[error("unsupported media type {0:?}")]
    UnsupportedMediaType(String),
    /// A layer tar contains an entry that would escape the target or is malformed.
    #[error("unsafe or malformed layer entry {entry:?}: {reason}")]
    UnsafeEntry {
        /// Path of the entry as written in the tar.
        entry: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The image is still referenced and cannot be removed.
    #[error("{0}")]
    InUse(String),
    /// An I/O error with the path it happened on.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An I/O error without a single path (network stream, pipe).
    #[error("{context}: {source}")]
    IoContext {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attaches a path to an I/O error.
pub(crate) trait IoPath<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T>;
    fn ctx(self, context: impl Into<String>) -> Result<T>;
}

impl<T> IoPath<T> for std::io::Result<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|source| Error::Io {
            path: path.into(),
            source,
        })
    }
    fn ctx(self, context: impl Into<String>) -> Result<T> {
        self.map_err(|source| Error::IoContext {
            context: context.into(),
            source,
        })
    }
}

pub(crate) fn invalid(what: impl Into<String>, message: impl std::fmt::Display) -> Error {
    Error::Invalid {
        what: what.into(),
        message: message.to_string(),
    }
}
