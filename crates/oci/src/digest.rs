//! sha256 digests: validation and hashing readers/writers.

use crate::error::{Error, Result};
use sha2::{Digest as _, Sha256};
use std::io::{self, Read, Write};

/// Checks that `d` is `sha256:` followed by 64 lowercase hex digits and
/// returns the hex part. Only sha256 is accepted: it is what every registry
/// serves, and a fixed form keeps digests safe to use as file names.
pub fn hex_of(d: &str) -> Result<&str> {
    match d.split_once(':') {
        Some(("sha256", h))
            if h.len() == 64
                && h.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
        {
            Ok(h)
        }
        _ => Err(Error::Digest(d.to_string())),
    }
}

/// The sha256 digest of `data` in `sha256:<hex>` form.
pub fn of_bytes(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// Fails with [`Error::DigestMismatch`] unless `data` hashes to `expected`.
pub fn verify_bytes(what: &str, expected: &str, data: &[u8]) -> Result<()> {
    hex_of(expected)?;
    let actual = of_bytes(data);
    if actual != expected {
        return Err(Error::DigestMismatch {
            what: what.to_string(),
            expected: expected.to_string(),
            actual,
        });
    }
    Ok(())
}

/// A reader that hashes what passes through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }
    /// The digest and byte count of everything read so far.
    pub fn finish(self) -> (String, u64) {
        (
            format!("sha256:{}", hex::encode(self.hasher.finalize())),
            self.count,
        )
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// A writer that hashes what passes through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> HashingWriter<W> {
    /// Wraps `inner`; `hasher` may already contain a prefix (resumed downloads).
    pub fn with_state(inner: W, hasher: Sha256, count: u64) -> Self {
        Self {
            inner,
            hasher,
            count,
        }
    }
    /// Bytes written so far, including the resumed prefix.
    pub fn count(&self) -> u64 {
        self.count
    }
    /// The inner writer, digest and total count.
    pub fn finish(self) -> (W, String, u64) {
        let d = format!("sha256:{}", hex::encode(self.hasher.finalize()));
        (self.inner, d, self.count)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A fresh hasher, re-exported so callers need not depend on sha2.
pub fn hasher() -> Sha256 {
    Sha256::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_validation() {
        let ok = format!("sha256:{}", "a".repeat(64));
        assert!(hex_of(&ok).is_ok());
        assert!(hex_of("sha256:../../etc").is_err());
        assert!(hex_of(&format!("sha512:{}", "a".repeat(64))).is_err());
        assert!(hex_of(&format!("sha256:{}", "A".repeat(64))).is_err());
    }

    #[test]
    fn verify() {
        let d = of_bytes(b"hello");
        assert!(verify_bytes("x", &d, b"hello").is_ok());
        assert!(matches!(
            verify_bytes("x", &d, b"hellO"),
            Err(Error::DigestMismatch { .. })
        ));
    }
}
