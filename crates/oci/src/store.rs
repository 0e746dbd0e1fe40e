//! The content-addressed image store.
//!
//! Layout under the root:
//!
//! ```text
//! blobs/sha256/<hex>       verified blobs (manifests, indexes, configs, layers)
//! ingest/<hex>             partial downloads, resumed by a later pull
//! ingest/<hex>.lock        flock held while one process downloads that blob
//! images.json              reference name -> top-level manifest/index digest
//! images.lock              flock guarding images.json read-modify-write
//! gc.lock                  shared by pulls/unpacks, exclusive for rmi/prune
//! rootfs/<hex>/            unpacked read-only root of a platform manifest
//! rootfs/<hex>.lock        flock held while unpacking it
//! ```
//!
//! A blob becomes visible only by `rename` after its sha256 and size were
//! verified and its data fsynced, so a killed pull leaves at most a partial
//! file under `ingest/`, which the next pull resumes with a Range request.

use crate::digest::{self, HashingWriter};
use crate::error::{Error, IoPath, Result, invalid};
use crate::platform::Platform;
use crate::registry::{Registry, RegistryOptions};
use crate::unpack::{UnpackOptions, UnpackReport, Unpacker};
use oci_spec::distribution::Reference;
use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest};
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// Environment variable that overrides the store root.
pub const ROOT_ENV: &str = "XARCH_ROOT";

/// Media types of multi-platform indexes.
pub const INDEX_TYPES: [&str; 2] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];
/// Media types of single-platform manifests.
pub const MANIFEST_TYPES: [&str; 2] = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

/// An image resolved for one platform: everything needed to run it.
#[derive(Debug, Clone)]
pub struct Image {
    /// Normalised reference name (`docker.io/library/busybox:latest`).
    pub name: String,
    /// Digest of what the name points to (an index or a manifest).
    pub top_digest: String,
    /// Digest of the platform manifest.
    pub digest: String,
    /// The platform manifest.
    pub manifest: ImageManifest,
    /// Digest of the config blob (the "image ID").
    pub config_digest: String,
    /// The image configuration (entrypoint, env, user, ...).
    pub config: ImageConfiguration,
    /// Layer descriptors, bottom first.
    pub layers: Vec<Descriptor>,
    /// The platform from the config.
    pub platform: Platform,
}

impl Image {
    /// Total compressed size of the layers.
    pub fn size(&self) -> u64 {
        self.layers.iter().map(|l| l.size()).sum()
    }
}

/// One row of `xarch images`.
#[derive(Debug, Clone)]
pub struct ImageSummary {
    /// Reference name.
    pub name: String,
    /// Digest the name points to.
    pub digest: String,
    /// Platform manifests of that name present locally: (platform, manifest digest, config digest, size).
    pub platforms: Vec<(Platform, String, String, u64)>,
}

/// Options for [`Store::pull`].
#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// Registry connection options.
    pub registry: RegistryOptions,
    /// Draw progress bars on stderr.
    pub progress: bool,
    /// Layers downloaded at once (0 means 3).
    pub parallel: usize,
}

/// Result of [`Store::prune`].
#[derive(Debug, Default, Clone)]
pub struct PruneReport {
    /// Blobs removed.
    pub blobs: usize,
    /// Unpacked roots removed.
    pub rootfs: usize,
    /// Partial downloads removed.
    pub partial: usize,
    /// Bytes freed (blobs and partial files).
    pub bytes: u64,
}

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct ImagesFile {
    images: BTreeMap<String, ImageEntry>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct ImageEntry {
    digest: String,
    media_type: String,
}

/// A held `flock`; released on drop.
pub struct Lock(#[allow(dead_code)] File);

/// The local image store.
pub struct Store {
    root: PathBuf,
}

/// Parses a user's image reference; short names become `docker.io/library/NAME:latest`.
pub fn parse_reference(s: &str) -> Result<Reference> {
    s.parse::<Reference>().map_err(|e| Error::Reference {
        reference: s.to_string(),
        reason: e.to_string(),
    })
}

/// The normalised name under which a reference is recorded.
pub fn reference_name(r: &Reference) -> String {
    match (r.tag(), r.digest()) {
        (Some(t), _) => format!("{}/{}:{t}", r.registry(), r.repository()),
        (None, Some(d)) => format!("{}/{}@{d}", r.registry(), r.repository()),
        (None, None) => format!("{}/{}:latest", r.registry(), r.repository()),
    }
}

fn lock_file(path: &Path, exclusive: bool) -> Result<Lock> {
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .at(path)?;
    let op = if exclusive {
        rustix::fs::FlockOperation::LockExclusive
    } else {
        rustix::fs::FlockOperation::LockShared
    };
    rustix::fs::flock(&f, op).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: e.into(),
    })?;
    Ok(Lock(f))
}

fn fsync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Writes `data` to `path` atomically (temp file, fsync, rename).
pub(crate) fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        path.file_name().and_then(|n| n.to_str()).unwrap_or("x")
    ));
    {
        let mut f = File::create(&tmp).at(&tmp)?;
        f.write_all(data).at(&tmp)?;
        f.sync_all().at(&tmp)?;
    }
    fs::rename(&tmp, path).at(path)?;
    fsync_dir(dir);
    Ok(())
}

fn is_index(media_type: &str, data: &[u8]) -> bool {
    if INDEX_TYPES.contains(&media_type) {
        return true;
    }
    if MANIFEST_TYPES.contains(&media_type) {
        return false;
    }
    // Unknown or missing content type: look at the document.
    serde_json::from_slice::<serde_json::Value>(data)
        .ok()
        .and_then(|v| v.get("manifests").map(|m| m.is_array()))
        .unwrap_or(false)
}

/// Parses an index, with a clear error for hostile or malformed input.
pub fn parse_index(data: &[u8]) -> Result<ImageIndex> {
    serde_json::from_slice(data).map_err(|e| invalid("image index", e))
}

/// Parses a manifest (OCI or Docker schema2), with a clear error.
pub fn parse_manifest(data: &[u8]) -> Result<ImageManifest> {
    let v: serde_json::Value =
        serde_json::from_slice(data).map_err(|e| invalid("image manifest", e))?;
    if v.get("schemaVersion").and_then(|s| s.as_u64()) == Some(1) {
        return Err(Error::UnsupportedMediaType(
            "application/vnd.docker.distribution.manifest.v1+json (schema 1)".into(),
        ));
    }
    let m: ImageManifest = serde_json::from_value(v).map_err(|e| invalid("image manifest", e))?;
    digest::hex_of(m.config().digest().as_ref())?;
    for l in m.layers() {
        digest::hex_of(l.digest().as_ref())?;
    }
    Ok(m)
}

/// Parses an image configuration, with a clear error.
pub fn parse_config(data: &[u8]) -> Result<ImageConfiguration> {
    serde_json::from_slice(data).map_err(|e| invalid("image config", e))
}

/// Picks the manifest for `platform` from an index.
pub fn select_platform(index: &ImageIndex, platform: &Platform, name: &str) -> Result<Descriptor> {
    let mut available = Vec::new();
    let mut best: Option<Descriptor> = None;
    for m in index.manifests() {
        let Some(p) = m.platform() else { continue };
        let p = Platform::from_oci(p);
        available.push(p.to_string());
        if platform.matches(&p) && best.is_none() {
            best = Some(m.clone());
        }
    }
    best.ok_or_else(|| Error::NoMatchingPlatform {
        reference: name.to_string(),
        platform: platform.to_string(),
        available: if available.is_empty() {
            "none".into()
        } else {
            available.join(", ")
        },
    })
}

impl Store {
    /// The default root: `$XARCH_ROOT`, else `/var/lib/xarch` for root,
    /// else `$XDG_DATA_HOME/xarch` (`~/.local/share/xarch`).
    pub fn default_root() -> PathBuf {
        if let Some(r) = std::env::var_os(ROOT_ENV).filter(|v| !v.is_empty()) {
            return PathBuf::from(r);
        }
        if rustix::process::geteuid().is_root() {
            return PathBuf::from("/var/lib/xarch");
        }
        let data = std::env::var_os("XDG_DATA_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
            .unwrap_or_else(|| PathBuf::from("/tmp"));
        data.join("xarch")
    }

    /// Opens (creating if needed) a store at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        for d in ["blobs/sha256", "ingest", "rootfs"] {
            let p = root.join(d);
            fs::create_dir_all(&p).at(&p)?;
        }
        Ok(Self { root })
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Path of a blob (whether or not it exists).
    pub fn blob_path(&self, digest: &str) -> Result<PathBuf> {
        Ok(self.root.join("blobs/sha256").join(digest::hex_of(digest)?))
    }

    /// True if a verified blob is present.
    pub fn has_blob(&self, digest: &str) -> bool {
        self.blob_path(digest).map(|p| p.exists()).unwrap_or(false)
    }

    /// Reads a blob fully (for manifests and configs).
    pub fn read_blob(&self, digest: &str) -> Result<Vec<u8>> {
        let p = self.blob_path(digest)?;
        fs::read(&p).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::NotFound(format!("blob {digest}"))
            } else {
                Error::Io { path: p, source: e }
            }
        })
    }

    /// Stores bytes whose digest must be `expected` (verified first).
    pub fn put_blob(&self, expected: &str, data: &[u8]) -> Result<()> {
        digest::verify_bytes("blob", expected, data)?;
        let p = self.blob_path(expected)?;
        if p.exists() {
            return Ok(());
        }
        write_atomic(&p, data)
    }

    /// Stores a blob read from `r`, verifying it hashes to `expected` (and
    /// has `size` bytes when given). Nothing becomes visible on mismatch.
    pub fn put_blob_reader(&self, expected: &str, size: Option<u64>, r: impl Read) -> Result<()> {
        let hex = digest::hex_of(expected)?.to_string();
        let final_path = self.blob_path(expected)?;
        if final_path.exists() {
            return Ok(());
        }
        let tmp = self
            .root
            .join("ingest")
            .join(format!(".import-{}-{hex}", std::process::id()));
        let f = File::create(&tmp).at(&tmp)?;
        let mut w = HashingWriter::with_state(f, digest::hasher(), 0);
        let limit = size.map(|s| s + 1).unwrap_or(u64::MAX);
        let res = std::io::copy(&mut r.take(limit), &mut w).at(&tmp);
        let (f, actual, n) = w.finish();
        let check = res.and_then(|_| {
            if let Some(s) = size.filter(|&s| s != n) {
                return Err(Error::SizeMismatch {
                    what: format!("blob {expected}"),
                    expected: s,
                    actual: n,
                });
            }
            if actual != expected {
                return Err(Error::DigestMismatch {
                    what: "blob".into(),
                    expected: expected.into(),
                    actual,
                });
            }
            f.sync_all().at(&tmp)
        });
        if let Err(e) = check {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        fs::rename(&tmp, &final_path).at(&final_path)?;
        fsync_dir(final_path.parent().unwrap_or(&self.root));
        Ok(())
    }

    /// Takes the store-wide lock: shared for pulls and unpacks, exclusive for removal.
    pub fn gc_lock(&self, exclusive: bool) -> Result<Lock> {
        lock_file(&self.root.join("gc.lock"), exclusive)
    }

    fn load_images(&self) -> Result<ImagesFile> {
        let p = self.root.join("images.json");
        match fs::read(&p) {
            Ok(d) => serde_json::from_slice(&d).map_err(|e| invalid(p.display().to_string(), e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ImagesFile::default()),
            Err(e) => Err(Error::Io { path: p, source: e }),
        }
    }

    fn update_images(&self, f: impl FnOnce(&mut ImagesFile) -> Result<()>) -> Result<()> {
        let _l = lock_file(&self.root.join("images.lock"), true)?;
        let mut imgs = self.load_images()?;
        f(&mut imgs)?;
        let data = serde_json::to_vec_pretty(&imgs).map_err(|e| invalid("images.json", e))?;
        write_atomic(&self.root.join("images.json"), &data)
    }

    /// Records `name` as pointing to `digest`.
    pub fn tag(&self, name: &str, digest: &str, media_type: &str) -> Result<()> {
        digest::hex_of(digest)?;
        self.update_images(|i| {
            i.images.insert(
                name.to_string(),
                ImageEntry {
                    digest: digest.to_string(),
                    media_type: media_type.to_string(),
                },
            );
            Ok(())
        })
    }

    /// Downloads one blob into the store, resuming a partial download.
    fn fetch_blob(
        &self,
        reg: &Registry,
        desc: &Descriptor,
        bar: Option<&indicatif::ProgressBar>,
        retries: u32,
    ) -> Result<()> {
        let expected = desc.digest().to_string();
        let hex = digest::hex_of(&expected)?.to_string();
        let size = desc.size();
        let final_path = self.blob_path(&expected)?;
        if final_path.exists() {
            if let Some(b) = bar {
                b.set_position(size);
                b.finish_with_message("exists");
            }
            return Ok(());
        }
        let _l = lock_file(&self.root.join("ingest").join(format!("{hex}.lock")), true)?;
        if final_path.exists() {
            return Ok(()); // another process finished it while we waited
        }
        let part = self.root.join("ingest").join(&hex);
        let mut attempt = 0;
        loop {
            match self.fetch_blob_once(reg, &expected, size, &part, bar) {
                Ok(()) => break,
                Err(
                    e @ (Error::DigestMismatch { .. }
                    | Error::SizeMismatch { .. }
                    | Error::NotFound(_)
                    | Error::Auth { .. }),
                ) => {
                    let _ = fs::remove_file(&part);
                    return Err(e);
                }
                Err(e) if attempt < retries => {
                    tracing::debug!("blob {expected}: {e}; retrying");
                    std::thread::sleep(std::time::Duration::from_millis(300 << attempt.min(5)));
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
        fs::rename(&part, &final_path).at(&final_path)?;
        fsync_dir(final_path.parent().unwrap_or(&self.root));
        if let Some(b) = bar {
            b.finish_with_message("done");
        }
        Ok(())
    }

    fn fetch_blob_once(
        &self,
        reg: &Registry,
        expected: &str,
        size: u64,
        part: &Path,
        bar: Option<&indicatif::ProgressBar>,
    ) -> Result<()> {
        let mut f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(part)
            .at(part)?;
        let mut have = f.metadata().at(part)?.len();
        if have > size {
            f.set_len(0).at(part)?;
            have = 0;
        }
        let mut resp = reg.blob(expected, have)?;
        let mut hasher = digest::hasher();
        if resp.partial && have > 0 {
            // Re-hash the prefix we already have, then append.
            f.rewind().at(part)?;
            let mut buf = vec![0u8; 1 << 16];
            let mut left = have;
            while left > 0 {
                let k = f.read(&mut buf[..(left.min(1 << 16)) as usize]).at(part)?;
                if k == 0 {
                    break;
                }
                sha2::Digest::update(&mut hasher, &buf[..k]);
                left -= k as u64;
            }
            f.seek(std::io::SeekFrom::Start(have)).at(part)?;
        } else {
            f.set_len(0).at(part)?;
            f.rewind().at(part)?;
            have = 0;
        }
        if let Some(b) = bar {
            b.set_position(have);
        }
        let mut w = HashingWriter::with_state(&mut f, hasher, have);
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let k = resp
                .body
                .read(&mut buf)
                .ctx(format!("downloading {expected}"))?;
            if k == 0 {
                break;
            }
            w.write_all(&buf[..k]).at(part)?;
            if w.count() > size {
                return Err(Error::SizeMismatch {
                    what: format!("blob {expected}"),
                    expected: size,
                    actual: w.count(),
                });
            }
            if let Some(b) = bar {
                b.set_position(w.count());
            }
        }
        let (f, actual, n) = w.finish();
        if n != size {
            return Err(Error::IoContext {
                context: format!("downloading {expected}"),
                source: std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("connection closed after {n} of {size} bytes"),
                ),
            });
        }
        if actual != expected {
            return Err(Error::DigestMismatch {
                what: format!("blob from {}", "registry"),
                expected: expected.to_string(),
                actual,
            });
        }
        f.sync_all().at(part)?;
        Ok(())
    }

    /// Pulls `reference` for `platform` and records it; returns the resolved image.
    pub fn pull(&self, reference: &str, platform: &Platform, opts: &PullOptions) -> Result<Image> {
        let r = parse_reference(reference)?;
        let name = reference_name(&r);
        let _gc = self.gc_lock(false)?;
        let reg = Registry::new(r.registry(), r.repository(), opts.registry.clone());
        let want = r.digest().or(r.tag()).unwrap_or("latest").to_string();
        let (top, media_type, top_digest) = reg.manifest(&want)?;
        let manifest_digest;
        let manifest_bytes;
        if is_index(&media_type, &top) {
            let index = parse_index(&top)?;
            let desc = select_platform(&index, platform, &name)?;
            manifest_digest = desc.digest().to_string();
            digest::hex_of(&manifest_digest)?;
            manifest_bytes = if self.has_blob(&manifest_digest) {
                self.read_blob(&manifest_digest)?
            } else {
                reg.manifest(&manifest_digest)?.0
            };
        } else {
            manifest_digest = top_digest.clone();
            manifest_bytes = top.clone();
        }
        let manifest = parse_manifest(&manifest_bytes)?;
        // Config first: it tells us the platform of single-manifest images.
        let cdesc = manifest.config().clone();
        self.fetch_blob(&reg, &cdesc, None, opts.registry.retries)?;
        let config = parse_config(&self.read_blob(cdesc.digest().as_ref())?)?;
        let cplat = Platform::new(
            &config.os().to_string(),
            &config.architecture().to_string(),
            config.variant().as_deref(),
        );
        if !platform.matches(&cplat) {
            return Err(Error::NoMatchingPlatform {
                reference: name,
                platform: platform.to_string(),
                available: cplat.to_string(),
            });
        }
        self.fetch_layers(&reg, manifest.layers(), opts)?;
        // Manifests last, so a visible manifest implies all its content is present.
        self.put_blob(&manifest_digest, &manifest_bytes)?;
        self.put_blob(&top_digest, &top)?;
        let mt = if media_type.is_empty() {
            if is_index(&media_type, &top) {
                INDEX_TYPES[0]
            } else {
                MANIFEST_TYPES[0]
            }
            .to_string()
        } else {
            media_type
        };
        self.tag(&name, &top_digest, &mt)?;
        drop(_gc);
        self.resolve(&name, platform)
    }

    fn fetch_layers(
        &self,
        reg: &Registry,
        layers: &[Descriptor],
        opts: &PullOptions,
    ) -> Result<()> {
        let mp = indicatif::MultiProgress::with_draw_target(if opts.progress {
            indicatif::ProgressDrawTarget::stderr()
        } else {
            indicatif::ProgressDrawTarget::hidden()
        });
        let style = indicatif::ProgressStyle::with_template(
            "{prefix:.bold} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> ");
        let parallel = if opts.parallel == 0 { 3 } else { opts.parallel };
        let next = std::sync::atomic::AtomicUsize::new(0);
        let errors = std::sync::Mutex::new(Vec::new());
        let bars: Vec<_> = layers
            .iter()
            .map(|l| {
                let b = mp.add(indicatif::ProgressBar::new(l.size()));
                b.set_style(style.clone());
                let d = l.digest().to_string();
                b.set_prefix(d.get(7..19).unwrap_or(&d).to_string());
                b
            })
            .collect();
        std::thread::scope(|s| {
            for _ in 0..parallel.min(layers.len().max(1)) {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        let Some(l) = layers.get(i) else { break };
                        if let Err(e) =
                            self.fetch_blob(reg, l, Some(&bars[i]), opts.registry.retries)
                        {
                            bars[i].abandon_with_message("failed");
                            if let Ok(mut v) = errors.lock() {
                                v.push((i, e));
                            }
                            // Stop starting new downloads after a failure.
                            next.store(layers.len(), std::sync::atomic::Ordering::SeqCst);
                        }
                    }
                });
            }
        });
        let mut errs = errors.into_inner().unwrap_or_default();
        errs.sort_by_key(|(i, _)| *i);
        match errs.into_iter().next() {
            Some((_, e)) => Err(e),
            None => Ok(()),
        }
    }

    /// Finds a locally stored image by name (as typed; short names are
    /// normalised) or by digest / image-ID prefix, for `platform`.
    pub fn resolve(&self, reference: &str, platform: &Platform) -> Result<Image> {
        let imgs = self.load_images()?;
        let (name, entry) = match parse_reference(reference).ok().and_then(|r| {
            let n = reference_name(&r);
            imgs.images.get(&n).map(|e| (n, e.clone()))
        }) {
            Some(x) => x,
            None => self.find_by_id(&imgs, reference)?,
        };
        self.resolve_entry(&name, &entry.digest, &entry.media_type, platform)
    }

    fn find_by_id(&self, imgs: &ImagesFile, id: &str) -> Result<(String, ImageEntry)> {
        let id = id.strip_prefix("sha256:").unwrap_or(id);
        if id.len() >= 4 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
            for (n, e) in &imgs.images {
                if e.digest[7..].starts_with(id) {
                    return Ok((n.clone(), e.clone()));
                }
            }
            for s in self.list()? {
                for (_, md, cd, _) in &s.platforms {
                    if md[7..].starts_with(id) || cd[7..].starts_with(id) {
                        let e = imgs
                            .images
                            .get(&s.name)
                            .cloned()
                            .ok_or_else(|| Error::NotFound(id.into()))?;
                        return Ok((s.name.clone(), e));
                    }
                }
            }
        }
        Err(Error::NotFound(format!("image {id} (pull it first)")))
    }

    fn resolve_entry(
        &self,
        name: &str,
        top: &str,
        media_type: &str,
        platform: &Platform,
    ) -> Result<Image> {
        let top_bytes = self.read_blob(top)?;
        let digest = if is_index(media_type, &top_bytes) {
            let index = parse_index(&top_bytes)?;
            let d = select_platform(&index, platform, name)?
                .digest()
                .to_string();
            if !self.has_blob(&d) {
                return Err(Error::NotFound(format!(
                    "image {name} for platform {platform} is not stored locally (pull it with --platform {platform})"
                )));
            }
            d
        } else {
            top.to_string()
        };
        let manifest = parse_manifest(&self.read_blob(&digest)?)?;
        let config_digest = manifest.config().digest().to_string();
        let config = parse_config(&self.read_blob(&config_digest)?)?;
        let plat = Platform::new(
            &config.os().to_string(),
            &config.architecture().to_string(),
            config.variant().as_deref(),
        );
        if !platform.matches(&plat) {
            return Err(Error::NoMatchingPlatform {
                reference: name.to_string(),
                platform: platform.to_string(),
                available: plat.to_string(),
            });
        }
        Ok(Image {
            name: name.to_string(),
            top_digest: top.to_string(),
            digest,
            layers: manifest.layers().clone(),
            manifest,
            config_digest,
            config,
            platform: plat,
        })
    }

    /// Lists stored images with the platforms present locally.
    pub fn list(&self) -> Result<Vec<ImageSummary>> {
        let imgs = self.load_images()?;
        let mut out = Vec::new();
        for (name, e) in &imgs.images {
            let mut platforms = Vec::new();
            let mut manifests = Vec::new();
            if let Ok(top) = self.read_blob(&e.digest) {
                if is_index(&e.media_type, &top) {
                    if let Ok(idx) = parse_index(&top) {
                        manifests.extend(idx.manifests().iter().map(|m| m.digest().to_string()));
                    }
                } else {
                    manifests.push(e.digest.clone());
                }
            }
            for md in manifests {
                let Ok(m) = self.read_blob(&md).and_then(|b| parse_manifest(&b)) else {
                    continue;
                };
                let cd = m.config().digest().to_string();
                let Ok(c) = self.read_blob(&cd).and_then(|b| parse_config(&b)) else {
                    continue;
                };
                let p = Platform::new(
                    &c.os().to_string(),
                    &c.architecture().to_string(),
                    c.variant().as_deref(),
                );
                let size = m.layers().iter().map(|l| l.size()).sum();
                platforms.push((p, md, cd, size));
            }
            out.push(ImageSummary {
                name: name.clone(),
                digest: e.digest.clone(),
                platforms,
            });
        }
        Ok(out)
    }

    /// Removes an image name, then garbage-collects content no name uses.
    pub fn remove(&self, reference: &str) -> Result<PruneReport> {
        let imgs = self.load_images()?;
        let name = match parse_reference(reference).ok().map(|r| reference_name(&r)) {
            Some(n) if imgs.images.contains_key(&n) => n,
            _ => self.find_by_id(&imgs, reference)?.0,
        };
        self.update_images(|i| {
            i.images.remove(&name);
            Ok(())
        })?;
        self.prune()
    }

    /// Removes blobs, unpacked roots and partial downloads that no image name reaches.
    pub fn prune(&self) -> Result<PruneReport> {
        let _gc = self.gc_lock(true)?;
        let imgs = self.load_images()?;
        let mut live = std::collections::HashSet::new();
        let mut live_manifests = std::collections::HashSet::new();
        for e in imgs.images.values() {
            live.insert(e.digest.clone());
            let Ok(top) = self.read_blob(&e.digest) else {
                continue;
            };
            let mut manifests = vec![];
            if is_index(&e.media_type, &top) {
                if let Ok(idx) = parse_index(&top) {
                    manifests.extend(idx.manifests().iter().map(|m| m.digest().to_string()));
                }
            } else {
                manifests.push(e.digest.clone());
            }
            for md in manifests {
                live.insert(md.clone());
                let Ok(m) = self.read_blob(&md).and_then(|b| parse_manifest(&b)) else {
                    continue;
                };
                live_manifests.insert(md);
                live.insert(m.config().digest().to_string());
                live.extend(m.layers().iter().map(|l| l.digest().to_string()));
            }
        }
        let mut rep = PruneReport::default();
        let bdir = self.root.join("blobs/sha256");
        for ent in fs::read_dir(&bdir).at(&bdir)? {
            let ent = ent.at(&bdir)?;
            let n = ent.file_name().to_string_lossy().into_owned();
            if !live.contains(&format!("sha256:{n}")) {
                rep.bytes += ent.metadata().map(|m| m.len()).unwrap_or(0);
                fs::remove_file(ent.path()).at(ent.path())?;
                rep.blobs += 1;
            }
        }
        let rdir = self.root.join("rootfs");
        for ent in fs::read_dir(&rdir).at(&rdir)? {
            let ent = ent.at(&rdir)?;
            let n = ent.file_name().to_string_lossy().into_owned();
            let hex = n.trim_end_matches(".lock");
            if !live_manifests.contains(&format!("sha256:{hex}")) || n.starts_with(".tmp-") {
                remove_tree(&ent.path())?;
                if !n.ends_with(".lock") {
                    rep.rootfs += 1;
                }
            }
        }
        let idir = self.root.join("ingest");
        for ent in fs::read_dir(&idir).at(&idir)? {
            let ent = ent.at(&idir)?;
            rep.bytes += ent.metadata().map(|m| m.len()).unwrap_or(0);
            fs::remove_file(ent.path()).at(ent.path())?;
            rep.partial += 1;
        }
        Ok(rep)
    }

    /// The unpacked, read-only root filesystem of `image` (cached per
    /// manifest digest; unpacked on first use). Use it as an overlay lower
    /// directory; never write to it.
    pub fn rootfs(&self, image: &Image) -> Result<PathBuf> {
        self.rootfs_with(image, &UnpackOptions::default())
            .map(|(p, _)| p)
    }

    /// Like [`Store::rootfs`], with options; also returns the unpack notes
    /// (empty when the root was already cached).
    pub fn rootfs_with(
        &self,
        image: &Image,
        opts: &UnpackOptions,
    ) -> Result<(PathBuf, UnpackReport)> {
        let _gc = self.gc_lock(false)?;
        let hex = digest::hex_of(&image.digest)?;
        let dir = self.root.join("rootfs").join(hex);
        if dir.is_dir() {
            return Ok((dir, UnpackReport::default()));
        }
        let _l = lock_file(&self.root.join("rootfs").join(format!("{hex}.lock")), true)?;
        if dir.is_dir() {
            return Ok((dir, UnpackReport::default()));
        }
        let tmp = self
            .root
            .join("rootfs")
            .join(format!(".tmp-{hex}-{}", std::process::id()));
        if tmp.exists() {
            remove_tree(&tmp)?;
        }
        fs::create_dir(&tmp).at(&tmp)?;
        let result = (|| {
            let mut u = Unpacker::new(&tmp, opts.clone())?;
            for l in &image.layers {
                let d = l.digest().to_string();
                let p = self.blob_path(&d)?;
                let f = File::open(&p).at(&p)?;
                let mut hr = digest::HashingReader::new(std::io::BufReader::new(f));
                u.apply_layer(crate::unpack::decompress(&mut hr)?)?;
                // Drain trailing bytes so the hash covers the whole blob.
                std::io::copy(&mut hr, &mut std::io::sink()).at(&p)?;
                let (actual, _) = hr.finish();
                if actual != d {
                    return Err(Error::DigestMismatch {
                        what: format!("stored layer {}", p.display()),
                        expected: d,
                        actual,
                    });
                }
            }
            u.finish()
        })();
        match result {
            Ok(rep) => {
                fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                    .at(&tmp)?;
                fs::rename(&tmp, &dir).at(&dir)?;
                fsync_dir(&self.root.join("rootfs"));
                Ok((dir, rep))
            }
            Err(e) => {
                let _ = remove_tree(&tmp);
                Err(e)
            }
        }
    }
}

/// Removes a directory tree (or file), making read-only directories writable first.
pub fn remove_tree(p: &Path) -> Result<()> {
    let meta = match fs::symlink_metadata(p) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(Error::Io {
                path: p.to_path_buf(),
                source: e,
            });
        }
    };
    if !meta.is_dir() {
        return fs::remove_file(p).at(p);
    }
    if fs::remove_dir_all(p).is_ok() {
        return Ok(());
    }
    // Unprivileged: read-only directories block removal of their children.
    fn chmod_all(p: &Path) {
        use std::os::unix::fs::PermissionsExt;
        let _ = fs::set_permissions(p, fs::Permissions::from_mode(0o700));
        if let Ok(rd) = fs::read_dir(p) {
            for e in rd.flatten() {
                if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    chmod_all(&e.path());
                }
            }
        }
    }
    chmod_all(p);
    fs::remove_dir_all(p).at(p)
}
