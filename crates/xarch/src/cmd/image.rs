//! Image commands: `xarch pull`, `xarch images`, `xarch rmi`, `xarch image ...`.

use anyhow::Context as _;
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use xarch_oci::{Credentials, Platform, PullOptions, RegistryOptions, Store, layout};

/// Where the image store lives.
#[derive(Args, Clone)]
pub struct StoreArgs {
    /// Image store directory (default: /var/lib/xarch as root, else $XDG_DATA_HOME/xarch).
    #[arg(long, env = "XARCH_ROOT", value_name = "DIR")]
    root: Option<PathBuf>,
}

impl StoreArgs {
    pub(crate) fn open(&self) -> anyhow::Result<Store> {
        let root = self.root.clone().unwrap_or_else(Store::default_root);
        Store::open(&root).with_context(|| format!("opening image store {}", root.display()))
    }
}

/// Which platform variant of an image to use.
#[derive(Args, Clone)]
pub struct PlatformArg {
    /// Platform as os/arch[/variant], e.g. linux/arm64 (default: the host's).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<String>,
}

impl PlatformArg {
    fn get(&self) -> anyhow::Result<Platform> {
        Ok(match &self.platform {
            Some(p) => Platform::parse(p)?,
            None => Platform::host(),
        })
    }
}

/// Top-level image commands (flattened into the main command list).
#[derive(Subcommand)]
pub enum ImageCommand {
    /// Pull an image from an OCI registry.
    Pull {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        platform: PlatformArg,
        /// Verify the registry's TLS certificate; false also allows plain HTTP.
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
        tls_verify: bool,
        /// Credentials as USER:PASSWORD (default: ~/.docker/config.json, containers/auth.json).
        #[arg(long, value_name = "USER:PASSWORD")]
        creds: Option<String>,
        /// No progress bars.
        #[arg(long, short)]
        quiet: bool,
        /// Image reference (short names mean docker.io/library/NAME).
        image: String,
    },
    /// List stored images.
    Images {
        #[command(flatten)]
        store: StoreArgs,
        /// Show only image IDs.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Remove images and the content only they use.
    Rmi {
        #[command(flatten)]
        store: StoreArgs,
        /// Image names or IDs.
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Manage images.
    #[command(subcommand)]
    Image(ImageSubcommand),
}

/// `xarch image ...`
#[derive(Subcommand)]
pub enum ImageSubcommand {
    /// Remove content no image name uses (blobs, unpacked roots, partial downloads).
    Prune {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Import an OCI layout directory or a docker/podman save (or oci-archive) tar.
    Import {
        #[command(flatten)]
        store: StoreArgs,
        /// Name for the imported image (default: the name recorded in the input).
        #[arg(long)]
        name: Option<String>,
        /// Directory or tar file.
        path: PathBuf,
    },
    /// Export an image as an OCI layout directory or a docker-archive tar.
    Export {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        platform: PlatformArg,
        /// oci (layout directory) or docker-archive (tar file).
        #[arg(long, default_value = "oci", value_parser = ["oci", "docker-archive"])]
        format: String,
        /// Output directory (oci) or file (docker-archive).
        #[arg(long, short)]
        output: PathBuf,
        /// Image name or ID.
        image: String,
    },
    /// Show an image's manifest and configuration as JSON.
    Inspect {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        platform: PlatformArg,
        /// Image name or ID.
        image: String,
    },
}

fn short(d: &str) -> &str {
    d.strip_prefix("sha256:")
        .unwrap_or(d)
        .get(..12)
        .unwrap_or(d)
}

fn human(n: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < units.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n}B")
    } else {
        format!("{v:.1}{}", units[u])
    }
}

/// Runs an image command.
pub fn run(c: ImageCommand) -> anyhow::Result<ExitCode> {
    match c {
        ImageCommand::Pull {
            store,
            platform,
            tls_verify,
            creds,
            quiet,
            image,
        } => {
            let store = store.open()?;
            let platform = platform.get()?;
            let credentials = match creds {
                Some(c) => {
                    let (u, p) = c.split_once(':').context("--creds must be USER:PASSWORD")?;
                    Some(Credentials {
                        username: u.into(),
                        password: p.into(),
                    })
                }
                None => None,
            };
            let opts = PullOptions {
                registry: RegistryOptions {
                    tls_verify,
                    credentials,
                    ..Default::default()
                },
                progress: !quiet && std::io::IsTerminal::is_terminal(&std::io::stderr()),
                parallel: 0,
            };
            let img = store.pull(&image, &platform, &opts)?;
            if !quiet {
                eprintln!("pulled {} ({}) for {}", img.name, img.digest, img.platform);
            }
            println!("{}", img.config_digest);
        }
        ImageCommand::Images { store, quiet } => {
            let store = store.open()?;
            let list = store.list()?;
            if !quiet {
                println!(
                    "{:<50} {:<14} {:<16} {:>10}",
                    "REPOSITORY:TAG", "IMAGE ID", "PLATFORM", "SIZE"
                );
            }
            for s in list {
                for (p, _, cd, size) in &s.platforms {
                    if quiet {
                        println!("{}", short(cd));
                    } else {
                        println!(
                            "{:<50} {:<14} {:<16} {:>10}",
                            s.name,
                            short(cd),
                            p.to_string(),
                            human(*size)
                        );
                    }
                }
                if s.platforms.is_empty() && !quiet {
                    println!(
                        "{:<50} {:<14} {:<16} {:>10}",
                        s.name,
                        short(&s.digest),
                        "(incomplete)",
                        "-"
                    );
                }
            }
        }
        ImageCommand::Rmi { store, images } => {
            let store = store.open()?;
            let mut failed = false;
            for i in images {
                match store.remove(&i) {
                    Ok(r) => println!("removed {i} ({} blobs, {} freed)", r.blobs, human(r.bytes)),
                    Err(e) => {
                        eprintln!("xarch: rmi {i}: {e}");
                        failed = true;
                    }
                }
            }
            return Ok(if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            });
        }
        ImageCommand::Image(sub) => match sub {
            ImageSubcommand::Prune { store } => {
                let r = store.open()?.prune()?;
                println!(
                    "removed {} blobs, {} unpacked roots, {} partial downloads; {} freed",
                    r.blobs,
                    r.rootfs,
                    r.partial,
                    human(r.bytes)
                );
            }
            ImageSubcommand::Import { store, name, path } => {
                let store = store.open()?;
                for n in layout::import(&store, &path, name.as_deref())? {
                    println!("{n}");
                }
            }
            ImageSubcommand::Export {
                store,
                platform,
                format,
                output,
                image,
            } => {
                let store = store.open()?;
                let img = store.resolve(&image, &platform.get()?)?;
                if format == "oci" {
                    let tag = img
                        .name
                        .rsplit_once(':')
                        .map(|(_, t)| t)
                        .filter(|t| !t.contains('/'))
                        .unwrap_or("latest");
                    layout::export_oci_layout(&store, &img, &output, tag)?;
                } else {
                    layout::export_archive(&store, &img, &output)?;
                }
            }
            ImageSubcommand::Inspect {
                store,
                platform,
                image,
            } => {
                let store = store.open()?;
                let img = store.resolve(&image, &platform.get()?)?;
                let v = serde_json::json!({
                    "Name": img.name,
                    "Digest": img.top_digest,
                    "ManifestDigest": img.digest,
                    "Id": img.config_digest,
                    "Platform": img.platform.to_string(),
                    "Manifest": img.manifest,
                    "Config": img.config,
                });
                println!("{}", serde_json::to_string_pretty(&v)?);
            }
        },
    }
    Ok(ExitCode::SUCCESS)
}
