//! `xarch container ...`: daemonless containers.

use anyhow::Context;
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use xarch_container::{Container, ImageDefaults, Network, RunOptions, Stdio, UserSpec, Volume};

/// Subcommands of `xarch container`.
#[derive(Subcommand)]
pub enum ContainerCommand {
    /// Run a command in a new container.
    Run(Box<RunArgs>),
}

/// Arguments of `xarch container run`.
#[derive(Args)]
pub struct RunArgs {
    /// Platform of the image (e.g. linux/arm64).
    #[arg(long)]
    platform: Option<String>,
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
    /// Container name.
    #[arg(long)]
    name: Option<String>,
    /// Container hostname.
    #[arg(long)]
    hostname: Option<String>,
    /// Network: host or none.
    #[arg(long, default_value = "host")]
    network: Network,
    /// Use DIR as the root filesystem instead of an image.
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
    }
}

fn run_container(a: RunArgs) -> anyhow::Result<ExitCode> {
    let Some(rootfs) = a.rootfs.clone() else {
        let image = a.args.first().map_or("", String::as_str);
        anyhow::bail!(
            "running image {image:?} needs the OCI store, which is not wired into `container run` yet; \
             use --rootfs DIR [--image-config FILE] [CMD...]"
        );
    };
    let _ = &a.platform;
    let image = match &a.image_config {
        Some(f) => {
            let text =
                std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
            ImageDefaults::from_json(&text)
                .with_context(|| format!("parsing image configuration {}", f.display()))?
        }
        None => ImageDefaults::default(),
    };
    let opts = RunOptions {
        command: a.args,
        entrypoint: a.entrypoint,
        env: a.env,
        env_files: a.env_file,
        volumes: a.volume,
        workdir: a.workdir,
        user: a.user,
        name: a.name,
        hostname: a.hostname,
        network: a.network,
        tty: a.tty,
        interactive: a.interactive,
        remove: a.rm,
    };
    let id = xarch_container::new_id();
    let state = xarch_container::runtime::default_state_root().join(&id);
    let result = Container::new(&id, &rootfs, &image, &opts, &state, |k| {
        std::env::var(k).ok()
    })
    .and_then(|c| xarch_container::run(&c, Stdio::inherit()?));
    // The container leaves no state behind yet (no `ls`/`rm`): the
    // generated /etc files go with it.
    let _ = std::fs::remove_dir_all(&state);
    match result {
        Ok(code) => Ok(ExitCode::from(code.clamp(0, 255) as u8)),
        Err(e) => {
            eprintln!("xarch: {e}");
            Ok(ExitCode::from(e.exit_status()))
        }
    }
}
