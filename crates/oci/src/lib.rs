//! xarch-oci: the image side of xarch — registry client, content store,
//! layer unpacking, import/export.
//!
//! # API for the container runtime
//!
//! ```no_run
//! use xarch_oci::{Platform, PullOptions, RootfsView, Store, ViewMode};
//! # fn main() -> xarch_oci::Result<()> {
//! let store = Store::open(Store::default_root())?;        // or a --root path
//! let platform = Platform::parse("linux/arm64")?;
//! // Pull (or use what is stored): both return an `Image`.
//! let image = match store.resolve("busybox", &platform) {
//!     Ok(i) => i,
//!     Err(_) => store.pull("busybox", &platform, &PullOptions::default())?,
//! };
//! // image.config: oci_spec::image::ImageConfiguration (entrypoint, env, user, workdir)
//! // image.manifest, image.layers, image.platform, image.digest (manifest digest)
//! let lower = store.rootfs(&image)?;   // unpacked once per manifest digest; read-only
//! // Per container: overlay on DIR/merged (upper/work beside it), or a copy
//! // when overlay is not allowed (ViewMode::Auto). Call inside the
//! // container's mount namespace; `release` unmounts and deletes DIR.
//! let view = RootfsView::create(&lower, "/run/xarch/c1".as_ref(), ViewMode::Auto)?;
//! println!("root at {}", view.merged.display());
//! view.release()?;
//! # Ok(()) }
//! ```
//!
//! * [`Store::open`]`(root)`; [`Store::default_root`] is `$XARCH_ROOT`, else
//!   `/var/lib/xarch` as root, else `$XDG_DATA_HOME/xarch`.
//! * [`Store::pull`]`(reference, &platform, &PullOptions) -> Image`: short
//!   names resolve to `docker.io/library/NAME:latest`; by tag or `@sha256:`;
//!   indexes select the platform; `PullOptions.registry.tls_verify = false`
//!   allows self-signed TLS and plain HTTP (e.g. `127.0.0.1:5000`).
//! * [`Store::resolve`]`(reference_or_id, &platform) -> Image` (local only).
//! * [`Store::rootfs`]`(&Image) -> PathBuf`: cached read-only root.
//! * [`RootfsView::create`]`(lower, dir, ViewMode)`: writable per-container root.
//!   (`xarch container run` lets the runtime mount its overlay inside the
//!   container's mount namespace instead, and uses [`view::copy_tree`] as
//!   the fallback.)
//! * [`Store::list`], [`Store::remove`], [`Store::prune`]; [`layout::import`],
//!   [`layout::export_oci_layout`], [`layout::export_archive`].
//!
//! Errors are one [`Error`] enum with one-line messages; nothing panics on
//! hostile registries, manifests or layer tars.
//!
//! # Guarantees
//!
//! Blobs are sha256-verified (and size-checked) before they become visible by
//! an atomic rename; partial downloads resume; `flock`s make concurrent xarch
//! processes safe. Layer unpacking never writes outside its root (see
//! [`unpack`]).

pub mod auth;
pub mod digest;
pub mod error;
pub mod layout;
pub mod platform;
pub mod registry;
pub mod store;
pub mod unpack;
pub mod view;

pub use auth::Credentials;
pub use error::{Error, Result};
pub use oci_spec;
pub use platform::Platform;
pub use registry::RegistryOptions;
pub use store::{Image, ImageSummary, PruneReport, PullOptions, Store};
pub use unpack::{UnpackOptions, UnpackReport};
pub use view::{RootfsView, ViewKind, ViewMode};
