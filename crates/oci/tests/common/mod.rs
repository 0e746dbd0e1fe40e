//! Test helpers: a real registry (Debian's docker-registry) on a free port,
//! OCI layouts built by hand from Debian's busybox-static, pushed with skopeo,
//! and a throttling TCP proxy.
#![allow(dead_code)]

use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BUSYBOX_VERSION: &str = "1:1.35.0-4+deb12u1+b1";

/// Prints why a test is skipped and returns true when a tool is missing.
pub fn missing(tools: &[&str]) -> bool {
    for t in tools {
        let found = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(t).is_file()))
            .unwrap_or(false);
        if !found {
            eprintln!("SKIP: {t} not installed (run scripts/deps-oci.sh)");
            return true;
        }
    }
    false
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running registry, killed on drop.
pub struct TestRegistry {
    pub child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl TestRegistry {
    pub fn start() -> Option<Self> {
        if missing(&["docker-registry", "skopeo"]) {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        for _ in 0..5 {
            let port = free_port();
            let cfg = format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("data").display()
            );
            let cfgp = dir.path().join("config.yml");
            std::fs::write(&cfgp, cfg).unwrap();
            let mut child = Command::new("/usr/bin/docker-registry")
                .arg("serve")
                .arg(&cfgp)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start docker-registry");
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if http_get_status(port, "/v2/") == Some(200) {
                    return Some(Self { child, port, dir });
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("docker-registry did not come up");
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The registry's stored data file for a blob.
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap();
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// Pushes an OCI layout (all platforms) as REPO:TAG.
    pub fn push(&self, layout: &Path, tag_in_layout: &str, repo_tag: &str) {
        skopeo(&[
            "copy",
            "--all",
            "--dest-tls-verify=false",
            &format!("oci:{}:{tag_in_layout}", layout.display()),
            &format!("docker://{}/{repo_tag}", self.addr()),
        ]);
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn skopeo(args: &[&str]) -> String {
    let out = Command::new("skopeo")
        .arg("--insecure-policy")
        .args(args)
        .output()
        .expect("run skopeo");
    assert!(
        out.status.success(),
        "skopeo {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn http_get_status(port: u16, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).ok()?;
    let line = String::from_utf8_lossy(&buf[..n]);
    line.split_whitespace().nth(1)?.parse().ok()
}

pub fn cache_dir() -> PathBuf {
    let d = std::env::var_os("XARCH_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.cache"));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The busybox binary from Debian's busybox-static for `arch` (amd64, arm64).
pub fn busybox(arch: &str) -> Option<Vec<u8>> {
    let dir = cache_dir().join("debs");
    std::fs::create_dir_all(&dir).unwrap();
    let ver = BUSYBOX_VERSION.replace(':', "%3a");
    let deb = dir.join(format!("busybox-static_{ver}_{arch}.deb"));
    if !deb.exists() {
        let ok = Command::new("apt-get")
            .current_dir(&dir)
            .args([
                "download",
                &format!("busybox-static:{arch}={BUSYBOX_VERSION}"),
            ])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok || !deb.exists() {
            eprintln!("SKIP: cannot download busybox-static:{arch}={BUSYBOX_VERSION}");
            return None;
        }
    }
    let out = Command::new("dpkg-deb")
        .arg("--fsys-tarfile")
        .arg(&deb)
        .output()
        .ok()?;
    let mut ar = tar::Archive::new(&out.stdout[..]);
    for e in ar.entries().ok()? {
        let mut e = e.ok()?;
        if e.path().ok()?.to_string_lossy().trim_start_matches("./") == "bin/busybox" {
            let mut v = Vec::new();
            e.read_to_end(&mut v).ok()?;
            return Some(v);
        }
    }
    None
}

pub fn sha(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// One file in a test layer.
pub enum Item<'a> {
    File(&'a str, &'a [u8], u32),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
}

pub fn layer_tar(items: &[Item]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for it in items {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        match it {
            Item::File(p, data, mode) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(*mode);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, p, *data).unwrap();
            }
            Item::Dir(p) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, p, &[][..]).unwrap();
            }
            Item::Symlink(p, t) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                b.append_link(&mut h, p, t).unwrap();
            }
            Item::Hardlink(p, t) => {
                h.set_entry_type(tar::EntryType::Link);
                h.set_mode(0o644);
                h.set_size(0);
                b.append_link(&mut h, p, t).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 3).unwrap()
}

/// Builds an OCI image layout by hand.
pub struct Layout {
    pub dir: PathBuf,
    index: Vec<serde_json::Value>,
}

pub struct Built {
    pub manifest_digest: String,
    pub manifest_size: usize,
    pub config_digest: String,
    pub layer_digests: Vec<String>,
    pub arch: String,
}

impl Layout {
    pub fn new(dir: &Path) -> Self {
        std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        Self {
            dir: dir.to_path_buf(),
            index: Vec::new(),
        }
    }

    pub fn blob(&self, data: &[u8]) -> String {
        let d = sha(data);
        std::fs::write(self.dir.join("blobs/sha256").join(&d[7..]), data).unwrap();
        d
    }

    /// An image from layers given as (uncompressed tar, compression: "gzip"|"zstd"|"none").
    pub fn image(&self, arch: &str, layers: &[(Vec<u8>, &str)]) -> Built {
        self.image_with(
            arch,
            layers,
            serde_json::json!({"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]}),
        )
    }

    /// Like [`Layout::image`] with the image configuration's `config` object.
    pub fn image_with(
        &self,
        arch: &str,
        layers: &[(Vec<u8>, &str)],
        run_config: serde_json::Value,
    ) -> Built {
        let mut diff_ids = Vec::new();
        let mut descs = Vec::new();
        let mut layer_digests = Vec::new();
        for (tar, comp) in layers {
            diff_ids.push(sha(tar));
            let (data, mt) = match *comp {
                "gzip" => (gzip(tar), "application/vnd.oci.image.layer.v1.tar+gzip"),
                "zstd" => (zstd(tar), "application/vnd.oci.image.layer.v1.tar+zstd"),
                _ => (tar.clone(), "application/vnd.oci.image.layer.v1.tar"),
            };
            let d = self.blob(&data);
            layer_digests.push(d.clone());
            descs.push(serde_json::json!({"mediaType": mt, "digest": d, "size": data.len()}));
        }
        let config = serde_json::json!({
            "architecture": arch, "os": "linux",
            "config": run_config,
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        });
        let cbytes = serde_json::to_vec(&config).unwrap();
        let cd = self.blob(&cbytes);
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cbytes.len()},
            "layers": descs,
        });
        let mbytes = serde_json::to_vec(&manifest).unwrap();
        let md = self.blob(&mbytes);
        Built {
            manifest_digest: md,
            manifest_size: mbytes.len(),
            config_digest: cd,
            layer_digests,
            arch: arch.into(),
        }
    }

    /// Adds a tagged single image to index.json.
    pub fn tag_image(&mut self, b: &Built, tag: &str) {
        self.index.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": b.manifest_digest, "size": b.manifest_size,
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }));
        self.write_index();
    }

    /// Adds a tagged multi-platform index; returns its digest.
    pub fn tag_index(&mut self, images: &[&Built], tag: &str) -> String {
        let manifests: Vec<_> = images
            .iter()
            .map(|b| {
                serde_json::json!({
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": b.manifest_digest, "size": b.manifest_size,
                    "platform": {"os": "linux", "architecture": b.arch},
                })
            })
            .collect();
        let idx = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests});
        let bytes = serde_json::to_vec(&idx).unwrap();
        let d = self.blob(&bytes);
        self.index.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": d, "size": bytes.len(),
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }));
        self.write_index();
        d
    }

    fn write_index(&self) {
        let idx = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": self.index});
        std::fs::write(
            self.dir.join("index.json"),
            serde_json::to_vec(&idx).unwrap(),
        )
        .unwrap();
    }
}

/// The busybox base layer for `arch`.
pub fn busybox_layer(bb: &[u8]) -> Vec<u8> {
    layer_tar(&[
        Item::Dir("bin/"),
        Item::File("bin/busybox", bb, 0o755),
        Item::Symlink("bin/sh", "busybox"),
        Item::Dir("etc/"),
        Item::File("etc/hello", b"lower\n", 0o644),
        Item::File("etc/gone", b"to be whited out\n", 0o644),
        Item::Dir("var/"),
        Item::Dir("var/opq/"),
        Item::File("var/opq/old", b"old\n", 0o644),
    ])
}

/// ELF e_machine of a binary: 183 aarch64, 62 x86_64.
pub fn elf_machine(data: &[u8]) -> u16 {
    assert_eq!(&data[..4], b"\x7fELF");
    u16::from_le_bytes([data[18], data[19]])
}

/// A TCP proxy to `upstream` that forwards at most `bytes_per_sec` downstream.
pub struct Proxy {
    pub port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Bytes forwarded from upstream to clients.
    pub down: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Proxy {
    pub fn start(upstream: u16, bytes_per_sec: usize) -> Self {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop2 = stop.clone();
        let down = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let down2 = down.clone();
        l.set_nonblocking(true).unwrap();
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(120);
            while !stop2.load(std::sync::atomic::Ordering::SeqCst) && Instant::now() < deadline {
                match l.accept() {
                    Ok((c, _)) => {
                        c.set_nonblocking(false).unwrap();
                        let Ok(u) = TcpStream::connect(("127.0.0.1", upstream)) else {
                            continue;
                        };
                        let (mut c2, mut u2) = (c.try_clone().unwrap(), u.try_clone().unwrap());
                        let (mut c, mut u) = (c, u);
                        let down = down2.clone();
                        std::thread::spawn(move || {
                            let _ = std::io::copy(&mut c2, &mut u2);
                            let _ = u2.shutdown(std::net::Shutdown::Write);
                        });
                        std::thread::spawn(move || {
                            let chunk = (bytes_per_sec / 20).max(1);
                            let mut buf = vec![0u8; chunk];
                            loop {
                                let n = match u.read(&mut buf) {
                                    Ok(0) | Err(_) => break,
                                    Ok(n) => n,
                                };
                                if c.write_all(&buf[..n]).is_err() {
                                    break;
                                }
                                down.fetch_add(n as u64, std::sync::atomic::Ordering::SeqCst);
                                std::thread::sleep(Duration::from_millis(50));
                            }
                            let _ = c.shutdown(std::net::Shutdown::Both);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Self { port, stop, down }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// How [`AuthProxy`] challenges clients.
#[derive(Clone, Copy)]
pub enum AuthMode {
    /// `WWW-Authenticate: Bearer realm=.../token`; the token endpoint wants the
    /// given basic credentials (if any) and hands out a fixed token.
    Bearer,
    /// `WWW-Authenticate: Basic`; requests must carry alice:s3cret.
    Basic,
}

/// An HTTP front for the registry that demands authentication the way
/// Docker Hub (bearer tokens) or a basic-auth registry does.
pub struct AuthProxy {
    pub port: u16,
    pub token_requests: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

pub const TOKEN: &str = "t0ken-for-tests";

fn read_head(s: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut b).ok()? == 0 {
            return None;
        }
        head.push(b[0]);
        if head == [0x16] {
            return None; // a TLS ClientHello: this is a plain-HTTP server
        }
        if head.len() > 65536 {
            return None;
        }
    }
    String::from_utf8(head).ok()
}

impl AuthProxy {
    pub fn start(upstream: u16, mode: AuthMode) -> Self {
        use base64::Engine as _;
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let token_requests = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let tr = token_requests.clone();
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("alice:s3cret")
        );
        std::thread::spawn(move || {
            for c in l.incoming().take(500) {
                let Ok(mut c) = c else { continue };
                let basic = basic.clone();
                let tr = tr.clone();
                std::thread::spawn(move || {
                    let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
                    let Some(head) = read_head(&mut c) else {
                        return;
                    };
                    let mut lines = head.split("\r\n");
                    let request_line = lines.next().unwrap_or("").to_string();
                    let path = request_line.split(' ').nth(1).unwrap_or("").to_string();
                    let auth = lines.clone().find_map(|l| {
                        l.split_once(':')
                            .filter(|(k, _)| k.eq_ignore_ascii_case("authorization"))
                            .map(|(_, v)| v.trim().to_string())
                    });
                    let reply = |c: &mut TcpStream, status: &str, extra: &str, body: &str| {
                        let _ = write!(
                            c,
                            "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        );
                    };
                    let (challenge, wanted) = match mode {
                        AuthMode::Bearer => (
                            format!(
                                "WWW-Authenticate: Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"test-registry\"\r\n"
                            ),
                            format!("Bearer {TOKEN}"),
                        ),
                        AuthMode::Basic => (
                            "WWW-Authenticate: Basic realm=\"test\"\r\n".to_string(),
                            basic.clone(),
                        ),
                    };
                    if path.starts_with("/token") {
                        tr.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        if !path.contains("scope=repository%3A")
                            || auth.as_deref() != Some(basic.as_str())
                        {
                            reply(&mut c, "401 Unauthorized", "", "{}");
                        } else {
                            reply(
                                &mut c,
                                "200 OK",
                                "Content-Type: application/json\r\n",
                                &format!("{{\"token\":\"{TOKEN}\"}}"),
                            );
                        }
                        return;
                    }
                    if auth.as_deref() != Some(wanted.as_str()) {
                        reply(
                            &mut c,
                            "401 Unauthorized",
                            &challenge,
                            "{\"errors\":[{\"code\":\"UNAUTHORIZED\"}]}",
                        );
                        return;
                    }
                    let Ok(mut u) = TcpStream::connect(("127.0.0.1", upstream)) else {
                        return;
                    };
                    let mut fwd = format!("{request_line}\r\n");
                    for l in head.split("\r\n").skip(1) {
                        let k = l.split(':').next().unwrap_or("").to_ascii_lowercase();
                        if l.is_empty() || k == "authorization" || k == "connection" {
                            continue;
                        }
                        fwd.push_str(l);
                        fwd.push_str("\r\n");
                    }
                    fwd.push_str("Connection: close\r\n\r\n");
                    if u.write_all(fwd.as_bytes()).is_ok() {
                        let _ = std::io::copy(&mut u, &mut c);
                    }
                });
            }
        });
        Self {
            port,
            token_requests,
        }
    }
}
