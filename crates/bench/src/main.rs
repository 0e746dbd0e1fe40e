//! `xarch-bench`: runs the same workloads natively (amd64 builds), under
//! xarch and under qemu-aarch64 (arm64 builds of the same versions), and
//! prints the medians and ratios. Speed is measured here, never asserted
//! in tests.
//!
//! ```text
//! scripts/bench.sh            # Debian roots (xarch-bench debian), ~30 min
//! scripts/bench.sh --quick    # busybox workloads (xarch-bench quick)
//! ```

mod debian;
mod maxrss;
mod quick;
mod report;
mod table;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Native vs xarch vs qemu-user on the same workloads")]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// Debian bookworm roots: zlib build, compressors, interpreters,
    /// sqlite, process start-up, RSS (the issue's table).
    Debian(debian::DebianArgs),
    /// busybox-static workloads, a couple of minutes.
    Quick(quick::QuickArgs),
    /// Runs a command (optionally chrooted) and prints its maximum RSS in
    /// KiB (getrusage of the waited child); used by `debian`.
    #[command(hide = true)]
    Maxrss(maxrss::MaxrssArgs),
}

fn main() -> Result<()> {
    match Cli::parse().mode {
        Mode::Debian(a) => debian::run(a),
        Mode::Quick(a) => quick::run(a),
        Mode::Maxrss(a) => maxrss::run(a),
    }
}
