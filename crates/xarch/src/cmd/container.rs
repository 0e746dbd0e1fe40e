//! `xarch container ...`: daemonless containers from OCI images.
//!
//! `run IMAGE` resolves the image in the store (pulling it when missing),
//! takes the image's configuration as defaults and runs the container on a
//! copy-on-write view of the image's cached root:
//!
//! * The container's files live in `<store>/containers/ID/` (`state.json`,
//!   generated `etc/` files, overlay `upper/`, `work/`, and the empty mount
//!   point `merged/`).
//! * The overlay is mounted by the container's first process right after
//!   it enters its new mount namespace (made a slave of the host's first),
//!   before the volumes and /proc: it is never visible on the host, needs
//!   no clean-up when xarch is killed, and works the same rootful and
//!   rootless (in a user namespace, where the kernel allows overlayfs).
//!   Mount targets are resolved in the lower directory, which is the same
//!   tree since a new container's upper directory is empty.
//! * When overlayfs is refused, the image's root is copied into `merged/`
//!   instead (slower, same result); `XARCH_VIEW=copy` forces that.
//! * Unnamed and `--rm` containers are deleted when they exit; named ones
//!   keep their directory (and their changes) until `xarch container rm`.
//!
//! Foreign images run with the emulator injected: this xarch itself
//! (`/proc/self/exe`) when it is statically linked, else the static xarch
//! named by `$XARCH_STATIC_BIN` (or `xarch-static` beside this binary),
//! opened before the container starts and executed through
//! `/proc/self/fd/N`. A dynamically linked xarch cannot run inside a
//! foreign image (its libc is not there), which is reported clearly.

use crate::cmd::image::StoreArgs;
use anyhow::Context;
use clap::{Args, Subcommand};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use xarch_container::exec::{Emulator, has_interpreter};
use xarch_container::state::{Record, StateDir, Status};
use xarch_container::{
    Container, Error as CtError, ImageDefaults, Network, Overlay, RunOptions, Stdio, UserSpec,
    Volume,
};
use xarch_oci::{Error as OciError, Platform, PullOptions, RegistryOptions, Store};

/// Subcommands of `xarch container`.
#[derive(Subcommand)]
pub enum ContainerCommand {
    /// Run a command in a new container.
    Run(Box<RunArgs>),
    /// List recorded containers (named containers stay until `rm`).
    #[command(alias = "ps")]
    Ls {
        #[command(flatten)]
        store: StoreArgs,
        /// Show only container ids.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Remove containers and their changes.
    Rm {
        #[command(flatten)]
        store: StoreArgs,
        /// Stop running containers first (kills them).
        #[arg(short, long)]
        force: bool,
        /// Container names or ids.
        #[arg(required = true)]
        containers: Vec<String>,
    },
}

/// When to pull the image.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PullPolicy {
    /// Only when it is not stored for the platform.
    Missing,
    /// Every time.
    Always,
    /// Never: fail when it is not stored.
    Never,
}

/// Arguments of `xarch container run`.
#[derive(Args)]
pub struct RunArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Platform of the image (e.g. linux/arm64; default: the host's).
    #[arg(long)]
    platform: Option<String>,
    /// When to pull the image.
    #[arg(long, value_enum, default_value = "missing")]
    pull: PullPolicy,
    /// Verify the registry's TLS certificate; false also allows plain HTTP.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    tls_verify: bool,
    /// Remove the container when it exits.
    #[arg(long)]
    rm: bool,
    /// Keep stdin open.
    #[arg(short, long)]
    interactive: bool,
    /// Allocate a pseudo-terminal.
    #[arg(short, long)]
    tty: bool,
    /// Set an environment variable (K=V, or K to copy it from here).
    #[arg(short, long = "env", value_name = "K=V")]
    env: Vec<String>,
    /// Read environment variables from a file.
    #[arg(long = "env-file", value_name = "FILE")]
    env_file: Vec<PathBuf>,
    /// Bind mount SRC:DST[:ro|rw].
    #[arg(short, long = "volume", value_name = "SRC:DST[:ro]")]
    volume: Vec<Volume>,
    /// Working directory inside the container.
    #[arg(short, long)]
    workdir: Option<String>,
    /// User (name or UID) and optional group.
    #[arg(short, long, value_name = "UID[:GID]")]
    user: Option<UserSpec>,
    /// Override the image's entrypoint (a string or a JSON array).
    #[arg(long)]
    entrypoint: Option<String>,
    /// Container name (the container is kept after it exits unless --rm).
    #[arg(long)]
    name: Option<String>,
    /// Container hostname.
    #[arg(long)]
    hostname: Option<String>,
    /// Network: host or none.
    #[arg(long, default_value = "host")]
    network: Network,
    /// Use DIR as the root filesystem instead of an image (written to directly).
    #[arg(long, value_name = "DIR")]
    rootfs: Option<PathBuf>,
    /// With --rootfs: an OCI image configuration JSON to take Env,
    /// Entrypoint, Cmd, WorkingDir and User from.
    #[arg(long, value_name = "FILE", requires = "rootfs")]
    image_config: Option<PathBuf>,
    /// IMAGE then the command and its arguments (with --rootfs: only the command).
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "IMAGE [CMD]..."
    )]
    args: Vec<String>,
}

/// Runs `xarch container ...`.
pub fn run(c: ContainerCommand) -> anyhow::Result<ExitCode> {
    match c {
        ContainerCommand::Run(args) => run_container(*args),
        ContainerCommand::Ls { store, quiet } => list(&store, quiet),
        ContainerCommand::Rm {
            store,
            force,
            containers,
        } => remove(&store, force, &containers),
    }
}

fn run_options(a: &RunArgs, command: Vec<String>) -> RunOptions {
    RunOptions {
        command,
        entrypoint: a.entrypoint.clone(),
        env: a.env.clone(),
        env_files: a.env_file.clone(),
        volumes: a.volume.clone(),
        workdir: a.workdir.clone(),
        user: a.user.clone(),
        name: a.name.clone(),
        hostname: a.hostname.clone(),
        network: a.network,
        tty: a.tty,
        interactive: a.interactive,
        remove: a.rm,
    }
}

fn exit_code(result: xarch_container::Result<i32>) -> ExitCode {
    match result {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            eprintln!("xarch: {e}");
            ExitCode::from(e.exit_status())
        }
    }
}

fn host_env(k: &str) -> Option<String> {
    std::env::var(k).ok()
}

/// A statically linked xarch to inject as the emulator, and the open file
/// that keeps it reachable after pivot_root.
struct Injected {
    emulator: Emulator,
    _file: Option<OwnedFd>,
}

/// The emulator for foreign programs: this binary when static, else
/// `$XARCH_STATIC_BIN` or `xarch-static` beside this binary. `Ok(None)`
/// when there is none (then only native programs can run).
fn static_emulator() -> anyhow::Result<Option<Injected>> {
    if has_interpreter(Path::new("/proc/self/exe")) == Some(false) {
        return Ok(Some(Injected {
            emulator: Emulator::default(),
            _file: None,
        }));
    }
    let candidate = match std::env::var_os("XARCH_STATIC_BIN") {
        Some(p) => Some(PathBuf::from(p)),
        None => std::env::current_exe()
            .ok()
            .and_then(|e| Some(e.parent()?.join("xarch-static")))
            .filter(|p| p.is_file()),
    };
    let Some(path) = candidate else {
        return Ok(None);
    };
    let (emulator, fd) = Emulator::from_static_binary(&path)?;
    Ok(Some(Injected {
        emulator,
        _file: Some(fd),
    }))
}

const STATIC_HINT: &str = "build one with `RUSTFLAGS=\"-C target-feature=+crt-static\" cargo build --release --target x86_64-unknown-linux-gnu -p xarch` and run that binary, or point XARCH_STATIC_BIN at it";

fn run_with_rootfs(a: RunArgs, rootfs: PathBuf) -> anyhow::Result<ExitCode> {
    let image = match &a.image_config {
        Some(f) => {
            let text =
                std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
            ImageDefaults::from_json(&text)
                .with_context(|| format!("parsing image configuration {}", f.display()))?
        }
        None => ImageDefaults::default(),
    };
    let injected = static_emulator()?;
    let opts = run_options(&a, a.args.clone());
    let id = xarch_container::new_id();
    let state = xarch_container::runtime::default_state_root().join(&id);
    let result = Container::new(&id, &rootfs, &image, &opts, &state, host_env).and_then(|mut c| {
        if let Some(i) = &injected {
            c.emulator = i.emulator.clone();
        }
        xarch_container::run(&c, Stdio::inherit()?)
    });
    // A --rootfs container is not recorded: the generated /etc files go with it.
    let _ = std::fs::remove_dir_all(&state);
    Ok(exit_code(result))
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The image for `reference` on `platform`: from the store, or pulled.
fn get_image(
    store: &Store,
    reference: &str,
    platform: &Platform,
    a: &RunArgs,
) -> anyhow::Result<xarch_oci::Image> {
    if a.pull != PullPolicy::Always {
        match store.resolve(reference, platform) {
            Ok(i) => return Ok(i),
            Err(e @ (OciError::NotFound(_) | OciError::NoMatchingPlatform { .. }))
                if a.pull == PullPolicy::Missing =>
            {
                note(&format!("{e}; pulling {reference} for {platform}"));
            }
            Err(e) => return Err(e.into()),
        }
    }
    let opts = PullOptions {
        registry: RegistryOptions {
            tls_verify: a.tls_verify,
            ..Default::default()
        },
        progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
        parallel: 0,
    };
    store
        .pull(reference, platform, &opts)
        .with_context(|| format!("pulling {reference} for {platform}"))
}

fn note(msg: &str) {
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        eprintln!("{msg}");
    }
}

fn run_container(a: RunArgs) -> anyhow::Result<ExitCode> {
    if let Some(rootfs) = a.rootfs.clone() {
        return run_with_rootfs(a, rootfs);
    }
    let Some((reference, command)) = a.args.split_first() else {
        anyhow::bail!("no image given: xarch container run [OPTIONS] IMAGE [CMD...]");
    };
    let (reference, command) = (reference.clone(), command.to_vec());
    if let Some(n) = &a.name
        && !xarch_container::state::valid_name(n)
    {
        anyhow::bail!("invalid container name {n:?}: names are [a-zA-Z0-9][a-zA-Z0-9_.-]*");
    }
    let store = a.store.open()?;
    let platform = match &a.platform {
        Some(p) => Platform::parse(p)?,
        None => Platform::host(),
    };
    let image = get_image(&store, &reference, &platform, &a)?;
    let foreign = image.platform.architecture != Platform::host().architecture;
    if foreign && image.platform.architecture != "arm64" {
        anyhow::bail!(
            "image {reference} is {}: xarch emulates linux/arm64 programs only",
            image.platform
        );
    }
    let injected = static_emulator()?;
    if foreign && injected.is_none() {
        anyhow::bail!(
            "image {reference} is {}: its programs run under the emulator, which must be a \
             statically linked xarch (this one is dynamically linked against the host's libc, \
             which the image does not have); {STATIC_HINT}",
            image.platform
        );
    }
    // Keeps `xarch image prune` from deleting the root while it is in use.
    let _gc = store.gc_lock(false)?;
    let lower = store.rootfs(&image)?;
    let defaults = ImageDefaults::from(&image.config);
    let opts = run_options(&a, command);

    let states = StateDir::open(store.root().join("containers"))?;
    let id = xarch_container::new_id();
    let mut record = Record {
        id: id.clone(),
        name: a.name.clone(),
        image: reference.clone(),
        image_id: image.config_digest.clone(),
        platform: image.platform.to_string(),
        command: Vec::new(),
        created: now(),
        supervisor: Some(std::process::id()),
        exit_code: None,
    };
    let dir = states.create(&record)?;
    let keep = a.name.is_some() && !a.rm;
    let result = (|| {
        let overlay = Overlay {
            lower: lower.clone(),
            upper: dir.join("upper"),
            work: dir.join("work"),
        };
        let merged = dir.join("merged");
        for d in [&overlay.upper, &overlay.work, &merged] {
            std::fs::create_dir_all(d).map_err(|source| CtError::Io {
                action: "creating",
                path: d.clone(),
                source,
            })?;
        }
        let mut c = Container::new(&id, &lower, &defaults, &opts, &dir.join("etc"), host_env)?
            .on_overlay(overlay, &merged);
        if let Some(i) = &injected {
            c.emulator = i.emulator.clone();
        }
        record.command = c.process.args.clone();
        states.save(&record)?;
        let copy = |c: &mut Container| {
            xarch_oci::view::copy_tree(&lower, &merged)
                .map_err(|e| CtError::Setup(format!("copying the image's root: {e}")))?;
            c.overlay = None;
            Ok::<_, CtError>(())
        };
        if std::env::var("XARCH_VIEW").is_ok_and(|v| v == "copy") {
            copy(&mut c)?;
        }
        match xarch_container::run(&c, Stdio::inherit()?) {
            Err(CtError::Overlay(why)) => {
                eprintln!("xarch: overlayfs not available ({why}); using a copy of the image");
                copy(&mut c)?;
                xarch_container::run(&c, Stdio::inherit()?)
            }
            r => r,
        }
    })();
    if keep {
        record.supervisor = None;
        record.exit_code = Some(*result.as_ref().unwrap_or(&-1));
        if let Err(e) = states.save(&record) {
            eprintln!("xarch: recording the container's exit: {e}");
        }
    } else if let Err(e) = states.remove(&record) {
        eprintln!("xarch: removing container {id}: {e}");
    }
    Ok(exit_code(result))
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

fn list(store: &StoreArgs, quiet: bool) -> anyhow::Result<ExitCode> {
    let store = store.open()?;
    let states = StateDir::open(store.root().join("containers"))?;
    let all = states.list()?;
    if !quiet {
        println!(
            "{:<14} {:<30} {:<24} {:<16} {:<18} NAMES",
            "CONTAINER ID", "IMAGE", "COMMAND", "PLATFORM", "STATUS"
        );
    }
    for r in all {
        if quiet {
            println!("{}", short(&r.id));
            continue;
        }
        let mut cmd = r.command.join(" ");
        if cmd.chars().count() > 22 {
            cmd = format!("{}…", cmd.chars().take(21).collect::<String>());
        }
        println!(
            "{:<14} {:<30} {:<24} {:<16} {:<18} {}",
            short(&r.id),
            r.image,
            format!("\"{cmd}\""),
            r.platform,
            r.status().to_string(),
            r.name.as_deref().unwrap_or("")
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn remove(store: &StoreArgs, force: bool, keys: &[String]) -> anyhow::Result<ExitCode> {
    let store = store.open()?;
    let states = StateDir::open(store.root().join("containers"))?;
    let mut failed = false;
    for key in keys {
        let r = (|| -> anyhow::Result<()> {
            let rec = states.find(key)?;
            if rec.status() == Status::Running {
                anyhow::ensure!(force, "container {key} is running (use --force to kill it)");
                xarch_container::state::kill(&rec)?;
            }
            states.remove(&rec)?;
            Ok(())
        })();
        match r {
            Ok(()) => println!("{key}"),
            Err(e) => {
                eprintln!("xarch: rm {key}: {e:#}");
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
