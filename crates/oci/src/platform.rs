//! Platforms (`linux/arm64/v8`) and matching them against index entries.

use crate::error::{Error, Result};
use std::fmt;

/// An OS/architecture/variant triple as used by `--platform`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Platform {
    /// Operating system, e.g. `linux`.
    pub os: String,
    /// GOARCH-style architecture, e.g. `arm64`, `amd64`.
    pub architecture: String,
    /// Optional variant, e.g. `v8` for arm64 or `v7` for arm.
    pub variant: Option<String>,
}

impl Platform {
    /// Parses `os/arch[/variant]`; `arch` alone means `linux/arch`. Common
    /// aliases (aarch64, x86_64) are normalised.
    pub fn parse(s: &str) -> Result<Self> {
        let parts: Vec<&str> = s.split('/').collect();
        let (os, arch, variant) = match parts.as_slice() {
            [a] => ("linux", *a, None),
            [o, a] => (*o, *a, None),
            [o, a, v] => (*o, *a, Some(*v)),
            _ => return Err(Error::Platform(s.to_string())),
        };
        let ok = |x: &str| {
            !x.is_empty()
                && x.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        };
        if !ok(os) || !ok(arch) || variant.is_some_and(|v| !ok(v)) {
            return Err(Error::Platform(s.to_string()));
        }
        Ok(Self::new(os, arch, variant))
    }

    /// Builds a normalised platform.
    pub fn new(os: &str, arch: &str, variant: Option<&str>) -> Self {
        let architecture = match arch {
            "aarch64" => "arm64",
            "x86_64" | "x86-64" => "amd64",
            "armhf" | "armel" => "arm",
            other => other,
        }
        .to_string();
        let mut variant = variant.map(str::to_string);
        // arm64's only variant is v8: treat "linux/arm64/v8" and "linux/arm64" alike.
        if architecture == "arm64" && variant.as_deref() == Some("v8") {
            variant = None;
        }
        Self {
            os: os.to_lowercase(),
            architecture,
            variant,
        }
    }

    /// The platform of the machine xarch runs on.
    pub fn host() -> Self {
        Self::new("linux", std::env::consts::ARCH, None)
    }

    /// True if an index entry with `other` satisfies a request for `self`.
    /// A request without variant matches any variant.
    pub fn matches(&self, other: &Platform) -> bool {
        self.os == other.os
            && self.architecture == other.architecture
            && (self.variant.is_none() || self.variant == other.variant)
    }

    /// Converts an oci-spec platform.
    pub fn from_oci(p: &oci_spec::image::Platform) -> Self {
        Self::new(
            &p.os().to_string(),
            &p.architecture().to_string(),
            p.variant().as_deref(),
        )
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Platform {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_match() {
        let p = Platform::parse("linux/arm64/v8").unwrap();
        assert_eq!(p.to_string(), "linux/arm64");
        assert!(p.matches(&Platform::parse("linux/aarch64").unwrap()));
        let arm = Platform::parse("linux/arm/v7").unwrap();
        assert!(!arm.matches(&Platform::parse("linux/arm/v6").unwrap()));
        assert!(Platform::parse("linux/arm").unwrap().matches(&arm));
        assert!(Platform::parse("a/b/c/d").is_err());
        assert!(Platform::parse("linux/").is_err());
        assert_eq!(Platform::parse("amd64").unwrap().os, "linux");
    }
}
