//! The user's run options (`xarch container run` flags) and their parsers.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Network mode of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Network {
    /// Share the host's network namespace (the default: xarch has no bridge).
    #[default]
    Host,
    /// A new network namespace with only a loopback device (down).
    None,
}

impl std::str::FromStr for Network {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "host" => Ok(Network::Host),
            "none" => Ok(Network::None),
            _ => Err(Error::InvalidOption {
                what: "network",
                value: s.into(),
                reason: "xarch supports `host` and `none`".into(),
            }),
        }
    }
}

/// A bind mount from the host: `-v SRC:DST[:ro|rw]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    /// Host path (made absolute against the current directory).
    pub source: PathBuf,
    /// Absolute path inside the container.
    pub destination: PathBuf,
    /// Mounted read-only.
    pub read_only: bool,
}

impl std::str::FromStr for Volume {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = |reason: &str| Error::InvalidOption {
            what: "volume",
            value: s.into(),
            reason: reason.into(),
        };
        let parts: Vec<&str> = s.split(':').collect();
        let (src, dst, opts) = match parts.as_slice() {
            [src, dst] => (*src, *dst, ""),
            [src, dst, opts] => (*src, *dst, *opts),
            _ => return Err(bad("expected SRC:DST[:ro|rw]")),
        };
        if src.is_empty() || dst.is_empty() {
            return Err(bad("expected SRC:DST[:ro|rw]"));
        }
        if !dst.starts_with('/') {
            return Err(bad("the container path must be absolute"));
        }
        let mut read_only = false;
        for opt in opts.split(',').filter(|o| !o.is_empty()) {
            match opt {
                "ro" => read_only = true,
                "rw" => read_only = false,
                // Accepted for compatibility; xarch does not relabel.
                "z" | "Z" => {}
                _ => return Err(bad(&format!("unknown option {opt:?} (use ro or rw)"))),
            }
        }
        let source = PathBuf::from(src);
        if !source.is_absolute() && !src.starts_with('.') {
            return Err(bad("named volumes are not supported; use a host path"));
        }
        let source = std::path::absolute(&source).map_err(|e| bad(&e.to_string()))?;
        Ok(Volume {
            source,
            destination: PathBuf::from(dst),
            read_only,
        })
    }
}

/// `-u USER[:GROUP]`: names or numeric ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSpec {
    /// User name or numeric uid.
    pub user: String,
    /// Group name or numeric gid, if given.
    pub group: Option<String>,
}

impl std::str::FromStr for UserSpec {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let (user, group) = match s.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (s, None),
        };
        if user.is_empty() || group == Some("") {
            return Err(Error::InvalidOption {
                what: "user",
                value: s.into(),
                reason: "expected USER[:GROUP] (names or numeric ids)".into(),
            });
        }
        Ok(UserSpec {
            user: user.into(),
            group: group.map(Into::into),
        })
    }
}

/// Options of one `xarch container run`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunOptions {
    /// Command and arguments given after the image (replace the image's Cmd).
    pub command: Vec<String>,
    /// `--entrypoint`: replaces the image's Entrypoint and drops its Cmd.
    /// An empty string clears the entrypoint.
    pub entrypoint: Option<String>,
    /// `-e K=V` (or `-e K`, which copies K from xarch's environment), in order.
    pub env: Vec<String>,
    /// `--env-file F`, read before the `-e` values.
    pub env_files: Vec<PathBuf>,
    /// `-v` bind mounts.
    pub volumes: Vec<Volume>,
    /// `-w`: working directory (created when missing, like podman).
    pub workdir: Option<String>,
    /// `-u`: user and group.
    pub user: Option<UserSpec>,
    /// `--name`.
    pub name: Option<String>,
    /// `--hostname` (default: the container id's first 12 characters).
    pub hostname: Option<String>,
    /// `--network`.
    pub network: Network,
    /// `-t`: a pseudo-terminal on the container's stdio.
    pub tty: bool,
    /// `-i`: keep stdin open (otherwise the container reads /dev/null).
    pub interactive: bool,
    /// `--rm`: forget the container when it exits.
    pub remove: bool,
}

/// Parses one `-e` value: `K=V`, or `K` alone which takes K's value from
/// `lookup` (skipped when unset, like podman).
pub fn parse_env_arg(arg: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<Option<String>> {
    let key = arg.split_once('=').map_or(arg, |(k, _)| k);
    if key.is_empty() {
        return Err(Error::InvalidOption {
            what: "environment variable",
            value: arg.into(),
            reason: "the name is empty".into(),
        });
    }
    if arg.contains('=') {
        Ok(Some(arg.into()))
    } else {
        Ok(lookup(key).map(|v| format!("{key}={v}")))
    }
}

/// Reads an env file: one `K=V` or `K` per line; blank lines and lines
/// starting with `#` are skipped.
pub fn read_env_file(path: &Path, lookup: impl Fn(&str) -> Option<String>) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("reading env file", path, e))?;
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(kv) = parse_env_arg(line, &lookup)? {
            out.push(kv);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_parse() {
        let v: Volume = "/src:/dst:ro".parse().unwrap();
        assert_eq!(v.source, PathBuf::from("/src"));
        assert_eq!(v.destination, PathBuf::from("/dst"));
        assert!(v.read_only);
        let v: Volume = "/src:/dst".parse().unwrap();
        assert!(!v.read_only);
        let v: Volume = "./x:/dst:rw".parse().unwrap();
        assert!(v.source.is_absolute());
        assert!("/src".parse::<Volume>().is_err());
        assert!("/src:rel".parse::<Volume>().is_err());
        assert!("/src:/dst:bogus".parse::<Volume>().is_err());
        assert!("named:/dst".parse::<Volume>().is_err());
    }

    #[test]
    fn users_parse() {
        let u: UserSpec = "1000:100".parse().unwrap();
        assert_eq!(u.user, "1000");
        assert_eq!(u.group.as_deref(), Some("100"));
        let u: UserSpec = "nobody".parse().unwrap();
        assert_eq!(u.group, None);
        assert!(":1".parse::<UserSpec>().is_err());
        assert!("1:".parse::<UserSpec>().is_err());
    }

    #[test]
    fn env_args() {
        let look = |k: &str| (k == "HOME").then(|| "/h".to_string());
        assert_eq!(
            parse_env_arg("A=b=c", look).unwrap().as_deref(),
            Some("A=b=c")
        );
        assert_eq!(
            parse_env_arg("HOME", look).unwrap().as_deref(),
            Some("HOME=/h")
        );
        assert_eq!(parse_env_arg("UNSET", look).unwrap(), None);
        assert!(parse_env_arg("=x", look).is_err());
    }

    #[test]
    fn env_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("env");
        std::fs::write(&f, "# comment\n\nA=1\n  B=two words\nHOME\n").unwrap();
        let got = read_env_file(&f, |_| Some("/root".into())).unwrap();
        assert_eq!(got, ["A=1", "B=two words", "HOME=/root"]);
        assert!(read_env_file(&dir.path().join("missing"), |_| None).is_err());
    }

    #[test]
    fn network_parse() {
        assert_eq!("none".parse::<Network>().unwrap(), Network::None);
        assert!("bridge".parse::<Network>().is_err());
    }
}
