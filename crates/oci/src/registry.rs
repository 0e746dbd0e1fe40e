//! Distribution-spec v2 client: manifests and blobs over HTTP(S), with the
//! `WWW-Authenticate` bearer-token flow (Docker Hub, GHCR, Quay), basic auth,
//! retries with exponential backoff and redirects to blob storage.

use crate::auth::{self, Credentials};
use crate::error::{Error, Result};
use std::io::Read;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use ureq::http::{Response, StatusCode};

/// Accept header for manifests: OCI and Docker schema2, single and multi-platform.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// Largest manifest or index accepted (the distribution spec suggests 4 MiB).
pub const MAX_MANIFEST: u64 = 4 << 20;

/// How to talk to a registry.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Verify TLS certificates. When false, a registry that does not speak
    /// TLS at all is reached over plain HTTP (like `127.0.0.1:5000`).
    pub tls_verify: bool,
    /// Explicit credentials; when None the auth files are consulted.
    pub credentials: Option<Credentials>,
    /// How many times a failed request is retried (with backoff).
    pub retries: u32,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        Self {
            tls_verify: true,
            credentials: None,
            retries: 4,
        }
    }
}

/// A client for one repository on one registry.
pub struct Registry {
    agent: ureq::Agent,
    /// Host[:port] as named in the reference (docker.io for Docker Hub).
    registry: String,
    /// Host[:port] actually contacted.
    host: String,
    repository: String,
    scheme: OnceLock<&'static str>,
    token: Mutex<Option<String>>,
    credentials: Option<Credentials>,
    opts: RegistryOptions,
}

/// A response body plus what the registry said about it.
pub struct BlobResponse {
    /// The body.
    pub body: Box<dyn Read + Send>,
    /// True when the registry honoured the Range request (206).
    pub partial: bool,
    /// Content-Length, when given.
    pub length: Option<u64>,
}

impl Registry {
    /// A client for `repository` on `registry` (as spelled in a reference;
    /// `docker.io` is contacted as `registry-1.docker.io`).
    pub fn new(registry: &str, repository: &str, opts: RegistryOptions) -> Self {
        let host = match registry {
            "docker.io" | "index.docker.io" => "registry-1.docker.io".to_string(),
            r => r.to_string(),
        };
        let tls = ureq::tls::TlsConfig::builder()
            .disable_verification(!opts.tls_verify)
            .build();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .tls_config(tls)
            .max_redirects(10)
            .redirect_auth_headers(ureq::config::RedirectAuthHeaders::SameHost)
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_recv_response(Some(Duration::from_secs(120)))
            .timeout_per_read(Some(Duration::from_secs(120)))
            .user_agent(concat!("xarch/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        let credentials = opts.credentials.clone().or_else(|| auth::lookup(registry));
        Self {
            agent,
            registry: registry.to_string(),
            host,
            repository: repository.to_string(),
            scheme: OnceLock::new(),
            token: Mutex::new(None),
            credentials,
            opts,
        }
    }

    fn err(&self, message: impl Into<String>) -> Error {
        Error::Registry {
            registry: self.registry.clone(),
            message: message.into(),
        }
    }

    /// https, or http when TLS is not verified and the registry does not speak it.
    fn scheme(&self) -> &str {
        self.scheme.get_or_init(|| {
            if self.opts.tls_verify {
                return "https";
            }
            let probe = format!("https://{}/v2/", self.host);
            let probe_req = self
                .agent
                .get(&probe)
                .config()
                .timeout_global(Some(Duration::from_secs(5)))
                .build();
            match probe_req.call() {
                Ok(_) => "https",
                Err(e) => {
                    tracing::debug!("https probe of {} failed ({e}); using http", self.host);
                    "http"
                }
            }
        })
    }

    fn url(&self, path: &str) -> String {
        format!(
            "{}://{}/v2/{}/{}",
            self.scheme(),
            self.host,
            self.repository,
            path
        )
    }

    /// GET with auth negotiation and retries. Non-success statuses other than
    /// 401 are returned to the caller.
    fn get(
        &self,
        path: &str,
        accept: &str,
        range_from: Option<u64>,
    ) -> Result<Response<ureq::Body>> {
        let url = self.url(path);
        let mut authed_once = false;
        let mut attempt = 0;
        loop {
            let mut req = self.agent.get(&url).header("Accept", accept);
            if let Some(from) = range_from.filter(|&f| f > 0) {
                req = req.header("Range", format!("bytes={from}-"));
            }
            let token = self.token.lock().map(|t| t.clone()).unwrap_or(None);
            if let Some(t) = token {
                req = req.header("Authorization", t);
            }
            let resp = match req.call() {
                Ok(r) => r,
                Err(e) => {
                    if attempt < self.opts.retries {
                        backoff(attempt);
                        attempt += 1;
                        continue;
                    }
                    return Err(self.err(format!("GET {url}: {e}")));
                }
            };
            let status = resp.status();
            if status == StatusCode::UNAUTHORIZED && !authed_once {
                authed_once = true;
                let challenge = resp
                    .headers()
                    .get("www-authenticate")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                self.authenticate(&challenge)?;
                continue;
            }
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                return Err(Error::Auth {
                    registry: self.registry.clone(),
                    message: format!("{} for {}", status, self.repository),
                });
            }
            if (status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS)
                && attempt < self.opts.retries
            {
                backoff(attempt);
                attempt += 1;
                continue;
            }
            return Ok(resp);
        }
    }

    /// Answers a 401 challenge: fetch a bearer token, or use basic auth.
    fn authenticate(&self, challenge: &str) -> Result<()> {
        let (scheme, params) = parse_challenge(challenge);
        let header = if scheme.eq_ignore_ascii_case("bearer") {
            let realm = params
                .iter()
                .find(|(k, _)| k == "realm")
                .map(|(_, v)| v.clone())
                .ok_or_else(|| Error::Auth {
                    registry: self.registry.clone(),
                    message: format!("bearer challenge without realm: {challenge:?}"),
                })?;
            let mut query = Vec::new();
            if let Some((_, s)) = params.iter().find(|(k, _)| k == "service") {
                query.push(format!("service={}", urlencode(s)));
            }
            let scope = params
                .iter()
                .find(|(k, _)| k == "scope")
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| format!("repository:{}:pull", self.repository));
            query.push(format!("scope={}", urlencode(&scope)));
            let sep = if realm.contains('?') { '&' } else { '?' };
            let url = format!("{realm}{sep}{}", query.join("&"));
            let mut attempt = 0;
            let mut resp = loop {
                let mut req = self.agent.get(&url);
                if let Some(c) = &self.credentials {
                    req = req.header("Authorization", c.basic_header());
                }
                match req.call() {
                    Ok(r) if r.status().is_server_error() && attempt < self.opts.retries => {}
                    Ok(r) => break r,
                    Err(_) if attempt < self.opts.retries => {}
                    Err(e) => return Err(self.err(format!("token request to {realm}: {e}"))),
                }
                backoff(attempt);
                attempt += 1;
            };
            if !resp.status().is_success() {
                return Err(Error::Auth {
                    registry: self.registry.clone(),
                    message: format!("token endpoint {realm} answered {}", resp.status()),
                });
            }
            let raw = resp
                .body_mut()
                .with_config()
                .limit(1 << 20)
                .read_to_vec()
                .map_err(|e| self.err(format!("token response: {e}")))?;
            let v: serde_json::Value = serde_json::from_slice(&raw)
                .map_err(|e| self.err(format!("token response: {e}")))?;
            let token = v
                .get("token")
                .or_else(|| v.get("access_token"))
                .and_then(|t| t.as_str())
                .ok_or_else(|| self.err("token response has no token"))?;
            format!("Bearer {token}")
        } else if scheme.eq_ignore_ascii_case("basic") {
            match &self.credentials {
                Some(c) => c.basic_header(),
                None => {
                    return Err(Error::Auth {
                        registry: self.registry.clone(),
                        message: "basic authentication required and no credentials found \
                                  (~/.docker/config.json, containers/auth.json)"
                            .into(),
                    });
                }
            }
        } else {
            return Err(Error::Auth {
                registry: self.registry.clone(),
                message: format!("unsupported challenge {challenge:?}"),
            });
        };
        if let Ok(mut t) = self.token.lock() {
            *t = Some(header);
        }
        Ok(())
    }

    /// Fetches a manifest or index by tag or digest: (bytes, media type, digest).
    /// The digest is computed from the bytes and, when fetching by digest,
    /// checked against it.
    pub fn manifest(&self, reference: &str) -> Result<(Vec<u8>, String, String)> {
        let mut resp = self.get(&format!("manifests/{reference}"), MANIFEST_ACCEPT, None)?;
        let status = resp.status();
        if status == StatusCode::NOT_FOUND {
            return Err(Error::NotFound(format!(
                "{}/{}:{reference}",
                self.registry, self.repository
            )));
        }
        if !status.is_success() {
            return Err(self.err(format!("manifest {reference}: HTTP {status}")));
        }
        let media_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(|s| s.split(';').next().unwrap_or("").trim().to_string())
            .unwrap_or_default();
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(MAX_MANIFEST)
            .read_to_vec()
            .map_err(|e| self.err(format!("manifest {reference}: {e}")))?;
        let digest = crate::digest::of_bytes(&bytes);
        if reference.starts_with("sha256:") && digest != reference {
            return Err(Error::DigestMismatch {
                what: format!("manifest {}/{}", self.registry, self.repository),
                expected: reference.to_string(),
                actual: digest,
            });
        }
        Ok((bytes, media_type, digest))
    }

    /// Opens a blob for reading from byte `offset` (Range request when > 0).
    pub fn blob(&self, digest: &str, offset: u64) -> Result<BlobResponse> {
        let resp = self.get(&format!("blobs/{digest}"), "*/*", Some(offset))?;
        let status = resp.status();
        if status == StatusCode::NOT_FOUND {
            return Err(Error::NotFound(format!(
                "blob {digest} in {}/{}",
                self.registry, self.repository
            )));
        }
        if status == StatusCode::RANGE_NOT_SATISFIABLE {
            // Our partial file is stale or longer than the blob: restart.
            return self.blob(digest, 0);
        }
        if !status.is_success() {
            return Err(self.err(format!("blob {digest}: HTTP {status}")));
        }
        let partial = status == StatusCode::PARTIAL_CONTENT;
        let length = resp
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.parse().ok());
        let body = resp.into_body().into_with_config().limit(u64::MAX).reader();
        Ok(BlobResponse {
            body: Box::new(body),
            partial,
            length,
        })
    }
}

fn backoff(attempt: u32) {
    let ms = 200u64.saturating_mul(1 << attempt.min(6));
    std::thread::sleep(Duration::from_millis(ms));
}

/// Splits `Bearer realm="x",service="y"` into the scheme and its parameters.
pub fn parse_challenge(h: &str) -> (String, Vec<(String, String)>) {
    let h = h.trim();
    let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
    let mut params = Vec::new();
    let mut s = rest.trim();
    while !s.is_empty() {
        let Some((k, after)) = s.split_once('=') else {
            break;
        };
        let k = k.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (v, rest) = if let Some(q) = after.strip_prefix('"') {
            let mut val = String::new();
            let mut chars = q.char_indices();
            let mut end = q.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            val.push(n);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => val.push(c),
                }
            }
            (val, &q[end.min(q.len())..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        params.push((k, v));
        s = rest.trim_start().trim_start_matches(',').trim_start();
    }
    (scheme.to_string(), params)
}

fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_parsing() {
        let (s, p) = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#,
        );
        assert_eq!(s, "Bearer");
        assert_eq!(
            p[0],
            ("realm".into(), "https://auth.docker.io/token".into())
        );
        assert_eq!(p[1], ("service".into(), "registry.docker.io".into()));
        assert_eq!(p[2].1, "repository:library/busybox:pull");
        let (s, p) = parse_challenge(r#"Basic realm="x""#);
        assert_eq!((s.as_str(), p.len()), ("Basic", 1));
        assert_eq!(
            urlencode("repository:a/b:pull"),
            "repository%3Aa%2Fb%3Apull"
        );
    }
}
