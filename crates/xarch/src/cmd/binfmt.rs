//! `xarch binfmt`: kernel binfmt_misc handlers, and the handler entry point
//! the kernel starts (see the `xarch_binfmt` crate docs for how it is
//! recognised).

use anyhow::Context;
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use xarch_binfmt::handler::GuestExec;
use xarch_binfmt::install::{self, InstallOptions, Layout};
use xarch_binfmt::{BinfmtFs, DEFAULT_MOUNTPOINT, Flags};

/// Subcommands of `xarch binfmt`.
#[derive(Subcommand)]
pub enum BinfmtCommand {
    /// Register xarch as the kernel's handler for foreign binaries.
    Install(InstallArgs),
    /// Remove xarch's handlers.
    Uninstall(UninstallArgs),
    /// Show registered handlers and which one runs each architecture.
    Status(StatusArgs),
}

/// Options shared by all subcommands.
#[derive(Args)]
pub struct Common {
    /// Where binfmt_misc is (or gets) mounted.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_MOUNTPOINT)]
    pub mountpoint: PathBuf,
    /// Root prefix for the files install writes (binfmt.d drop-ins, the
    /// handler binary); for tests and image builds.
    #[arg(
        long,
        value_name = "DIR",
        env = "XARCH_BINFMT_ROOT",
        default_value = "/",
        hide = true
    )]
    pub root: PathBuf,
}

/// Arguments of `xarch binfmt install`.
#[derive(Args)]
pub struct InstallArgs {
    /// Architectures (aarch64, arm64, linux/arm64, ... or all); repeat or
    /// separate with commas.
    #[arg(long, value_name = "ARCH", default_value = "all")]
    pub arch: Vec<String>,
    /// binfmt_misc flags: P preserve argv[0], O open binary, C credentials
    /// of the binary, F fix binary (open the interpreter now).
    #[arg(long, default_value = "POCF")]
    pub flags: String,
    /// Survive reboots: install the binary under /usr/local/libexec/xarch
    /// and write /etc/binfmt.d/xarch-ARCH.conf for systemd-binfmt.
    #[arg(long)]
    pub persistent: bool,
    /// Unregister other handlers (qemu-aarch64, ...) for the same binaries.
    #[arg(long)]
    pub replace: bool,
    /// Register this existing file instead of a copy of this xarch binary.
    #[arg(long, value_name = "PATH")]
    pub interpreter: Option<PathBuf>,
    #[command(flatten)]
    pub common: Common,
}

/// Arguments of `xarch binfmt uninstall`.
#[derive(Args)]
pub struct UninstallArgs {
    /// Architectures, or all.
    #[arg(long, value_name = "ARCH", default_value = "all")]
    pub arch: Vec<String>,
    #[command(flatten)]
    pub common: Common,
}

/// Arguments of `xarch binfmt status`.
#[derive(Args)]
pub struct StatusArgs {
    /// Print JSON (`supported`, `emulators`, `handlers`, `arches`).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub common: Common,
}

/// If the kernel started us as a binfmt_misc interpreter, run the guest and
/// return its exit code; otherwise `None`.
pub fn handler_entry() -> Option<ExitCode> {
    let req = match GuestExec::from_process() {
        Ok(Some(req)) => req,
        Ok(None) => return None,
        Err(e) => {
            eprintln!("xarch: {e}");
            return Some(ExitCode::from(126));
        }
    };
    let path = req.path.clone();
    Some(match super::run::run_binfmt(req) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xarch: {}: {e:#}", path.display());
            ExitCode::from(126)
        }
    })
}

/// Runs `xarch binfmt ...`.
pub fn run(c: BinfmtCommand) -> anyhow::Result<ExitCode> {
    match c {
        BinfmtCommand::Install(a) => install_cmd(a),
        BinfmtCommand::Uninstall(a) => uninstall_cmd(a),
        BinfmtCommand::Status(a) => status_cmd(a),
    }
}

fn install_cmd(a: InstallArgs) -> anyhow::Result<ExitCode> {
    let flags: Flags = a.flags.parse()?;
    let arches = xarch_binfmt::select_arches(&a.arch)?;
    let self_exe = std::env::current_exe().context("locating the xarch binary")?;
    let bfs = BinfmtFs::open_or_mount(&a.common.mountpoint)?;
    let opts = InstallOptions {
        arches,
        flags,
        persistent: a.persistent,
        replace: a.replace,
        interpreter: a.interpreter,
        self_exe,
        layout: Layout {
            root: a.common.root,
        },
    };
    if !bfs.enabled()? {
        eprintln!(
            "xarch: warning: binfmt_misc is disabled as a whole; no handler runs until `echo 1 > {}`",
            bfs.dir().join("status").display()
        );
    }
    for done in install::install(&bfs, &opts)? {
        let r = &done.registration;
        for other in &done.replaced {
            println!("removed {other} (it handled {} binaries)", done.arch.name);
        }
        println!(
            "{} {} for {} binaries: interpreter {}, flags {}",
            if done.reinstalled {
                "re-registered"
            } else {
                "registered"
            },
            r.name,
            done.arch.name,
            r.interpreter,
            if r.flags == Flags::default() {
                "none".to_string()
            } else {
                r.flags.to_string()
            },
        );
        if let Some(conf) = &done.conf_file {
            println!(
                "wrote {} (systemd-binfmt registers it at boot)",
                conf.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn uninstall_cmd(a: UninstallArgs) -> anyhow::Result<ExitCode> {
    let arches = xarch_binfmt::select_arches(&a.arch)?;
    let bfs = BinfmtFs::open_or_mount(&a.common.mountpoint)?;
    let layout = Layout {
        root: a.common.root,
    };
    for arch in arches {
        let done = install::uninstall(&bfs, arch, &layout)?;
        match &done.entry {
            Some(name) => println!("unregistered {name}"),
            None => println!("xarch is not registered for {} binaries", arch.name),
        }
        for f in &done.files {
            println!("removed {}", f.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn status_cmd(a: StatusArgs) -> anyhow::Result<ExitCode> {
    let bfs = BinfmtFs::open_or_mount(&a.common.mountpoint)?;
    let s = xarch_binfmt::status::status(
        &bfs,
        &Layout {
            root: a.common.root,
        },
    )?;
    if a.json {
        println!("{}", s.to_json());
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "binfmt_misc at {}: {}",
        s.mountpoint.display(),
        if s.enabled { "enabled" } else { "disabled" }
    );
    println!("supported platforms: {}", s.supported.join(", "));
    for arch in &s.arches {
        let who = match (&arch.handler, arch.installed) {
            (Some(h), true) if *h == format!("xarch-{}", arch.arch) => "xarch".to_string(),
            (Some(h), true) => format!("{h} (xarch is registered too but {h} wins)"),
            (Some(h), false) => format!("{h} (not xarch)"),
            (None, true) => "nobody (xarch's entry is disabled)".to_string(),
            (None, false) => "nobody".to_string(),
        };
        println!(
            "{} ({}): handled by {who}{}",
            arch.arch,
            arch.platform,
            if arch.persistent { ", persistent" } else { "" }
        );
        let others: Vec<_> = arch
            .conflicts
            .iter()
            .filter(|c| Some(*c) != arch.handler.as_ref())
            .collect();
        if !others.is_empty() {
            println!(
                "  also registered for these binaries: {}",
                others
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    for h in &s.handlers {
        println!(
            "  {:<20} {:<8} flags={:<4} {}{}",
            h.name,
            if h.enabled { "enabled" } else { "disabled" },
            h.flags.to_string(),
            h.interpreter,
            h.platform
                .as_deref()
                .map(|p| format!(" [{p}]"))
                .unwrap_or_default(),
        );
    }
    Ok(ExitCode::SUCCESS)
}
