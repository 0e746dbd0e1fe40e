//! Registry credentials from the files Docker and Podman write.
//!
//! Looked up, first match wins: `$REGISTRY_AUTH_FILE`,
//! `${XDG_RUNTIME_DIR}/containers/auth.json`, `$XDG_CONFIG_HOME/containers/auth.json`,
//! `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`. Each has the
//! shape `{"auths": {"host": {"auth": base64("user:password")}}}`.

use base64::Engine as _;
use std::path::PathBuf;

/// A user name and password (or identity token used as password).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password or token.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// The value of an `Authorization: Basic` header.
    pub fn basic_header(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

/// The credential files consulted, in order.
pub fn auth_files() -> Vec<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let mut v = Vec::new();
    if let Some(p) = env("REGISTRY_AUTH_FILE") {
        v.push(p);
    }
    if let Some(d) = env("XDG_RUNTIME_DIR") {
        v.push(d.join("containers/auth.json"));
    }
    let home = env("HOME");
    if let Some(d) = env("XDG_CONFIG_HOME").or_else(|| home.as_ref().map(|h| h.join(".config"))) {
        v.push(d.join("containers/auth.json"));
    }
    if let Some(d) = env("DOCKER_CONFIG").or_else(|| home.as_ref().map(|h| h.join(".docker"))) {
        v.push(d.join("config.json"));
    }
    v
}

/// Credentials for `registry` (a host[:port], `docker.io` for Docker Hub)
/// from the standard files, if any. Unreadable or malformed files are skipped.
pub fn lookup(registry: &str) -> Option<Credentials> {
    auth_files()
        .iter()
        .find_map(|p| std::fs::read(p).ok().and_then(|d| lookup_in(&d, registry)))
}

/// Credentials for `registry` in one auth file's contents.
pub fn lookup_in(data: &[u8], registry: &str) -> Option<Credentials> {
    let v: serde_json::Value = serde_json::from_slice(data).ok()?;
    let auths = v.get("auths")?.as_object()?;
    let hub = matches!(
        registry,
        "docker.io" | "index.docker.io" | "registry-1.docker.io"
    );
    for (key, entry) in auths {
        let host = key
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap_or("");
        let key_hub = matches!(
            host,
            "docker.io" | "index.docker.io" | "registry-1.docker.io"
        );
        if host != registry && !(hub && key_hub) {
            continue;
        }
        if let Some(auth) = entry.get("auth").and_then(|a| a.as_str()) {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .ok()?;
            let raw = String::from_utf8(raw).ok()?;
            let (u, p) = raw.split_once(':')?;
            return Some(Credentials {
                username: u.to_string(),
                password: p.to_string(),
            });
        }
        if let (Some(u), Some(p)) = (
            entry.get("username").and_then(|a| a.as_str()),
            entry.get("password").and_then(|a| a.as_str()),
        ) {
            return Some(Credentials {
                username: u.to_string(),
                password: p.to_string(),
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_config() {
        let cfg = br#"{"auths":{"https://index.docker.io/v1/":{"auth":"dTpw"},"127.0.0.1:5000":{"auth":"YWxpY2U6czNjcjN0"}}}"#;
        let c = lookup_in(cfg, "127.0.0.1:5000").unwrap();
        assert_eq!(
            (c.username.as_str(), c.password.as_str()),
            ("alice", "s3cr3t")
        );
        let hub = lookup_in(cfg, "docker.io").unwrap();
        assert_eq!(hub.username, "u");
        assert!(lookup_in(cfg, "ghcr.io").is_none());
        assert!(lookup_in(b"not json", "ghcr.io").is_none());
    }
}
