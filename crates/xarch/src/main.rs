//! The `xarch` command line: argument parsing and wiring only. Every
//! subcommand's work lives in a library crate; `cmd/*.rs` translate
//! arguments into library calls and results into exit codes.

mod cmd;

use clap::{CommandFactory, Parser, Subcommand};
use std::ffi::OsString;
use std::process::ExitCode;

/// Run and build software for other CPU architectures on x86_64 Linux.
#[derive(Parser)]
#[command(name = "xarch", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    #[command(about = RUN_ABOUT)]
    Run(cmd::run::RunArgs),
    /// Manage kernel binfmt_misc handlers for transparent execution.
    #[command(subcommand)]
    Binfmt(cmd::binfmt::BinfmtCommand),
    #[command(flatten)]
    Image(cmd::image::ImageCommand),
    /// Run containers from OCI images, foreign or native.
    #[command(subcommand)]
    Container(cmd::container::ContainerCommand),
}

const RUN_ABOUT: &str = "Run a foreign (arm64) Linux ELF program under emulation";

/// `xarch run` alone, for the command line every emulated `execve`
/// re-enters xarch with: parsing it builds none of the other subcommands'
/// parsers (which took 30 of the 190 page faults of a small program's
/// whole run).
#[derive(Parser)]
#[command(name = "xarch run", version, about = RUN_ABOUT, long_about = None)]
struct RunCli {
    #[command(flatten)]
    args: cmd::run::RunArgs,
}

/// `args` (a command's, after its name) with `--` before the first
/// positional argument, the program: what follows it is the program's
/// own (`xarch run -L root perl -e 'print 1'`), but clap takes an option
/// it knows (`-e`) wherever it appears.
fn program_args_apart(cmd: &clap::Command, args: Vec<OsString>) -> Vec<OsString> {
    let takes_value = |a: &clap::Arg| a.get_action().takes_values();
    let long_with_value = |name: &str| {
        cmd.get_arguments()
            .any(|a| takes_value(a) && a.get_long() == Some(name))
    };
    let short_with_value = |c: char| {
        cmd.get_arguments()
            .any(|a| takes_value(a) && a.get_short() == Some(c))
    };
    let mut i = 0;
    while let Some(arg) = args.get(i) {
        let Some(a) = arg.to_str() else { break };
        if a == "--" {
            return args;
        } else if let Some(long) = a.strip_prefix("--") {
            i += if !long.contains('=') && long_with_value(long) {
                2
            } else {
                1
            };
        } else if let Some(shorts) = a.strip_prefix('-').filter(|s| !s.is_empty()) {
            // A cluster of flags, the first that takes a value taking the
            // rest of the word or, at its end, the next word.
            let mut skip = 1;
            for (k, c) in shorts.char_indices() {
                if short_with_value(c) {
                    if k + c.len_utf8() == shorts.len() {
                        skip = 2;
                    }
                    break;
                }
            }
            i += skip;
        } else {
            break;
        }
    }
    let mut out = args;
    if i < out.len() {
        out.insert(i, "--".into());
    }
    out
}

fn main() -> ExitCode {
    // The kernel starts a binfmt_misc handler with the guest's path as
    // argv[1]; that entry point is not a clap subcommand.
    if let Some(code) = cmd::binfmt::handler_entry() {
        return code;
    }
    let mut argv = std::env::args_os();
    let command = if argv.nth(1).is_some_and(|a| a == "run") {
        let args = program_args_apart(&RunCli::command(), argv.collect());
        Command::Run(RunCli::parse_from(std::iter::once("xarch run".into()).chain(args)).args)
    } else {
        Cli::parse().command
    };
    let result = match command {
        Command::Run(args) => cmd::run::run(args),
        Command::Binfmt(c) => cmd::binfmt::run(c),
        Command::Image(c) => cmd::image::run(c),
        Command::Container(c) => cmd::container::run(c),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("xarch: {err:#}");
            ExitCode::from(125)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apart(args: &[&str]) -> Vec<String> {
        let args = args.iter().map(OsString::from).collect();
        program_args_apart(&RunCli::command(), args)
            .into_iter()
            .map(|a| a.into_string().expect("utf-8"))
            .collect()
    }

    #[test]
    fn the_programs_options_stay_the_programs() {
        assert_eq!(
            apart(&["-L", "/r", "perl", "-e", "print 1"]),
            ["-L", "/r", "--", "perl", "-e", "print 1"]
        );
        assert_eq!(
            apart(&[
                "--engine=interp",
                "--strace",
                "-Lroot",
                "/bin/echo",
                "-n",
                "x"
            ]),
            [
                "--engine=interp",
                "--strace",
                "-Lroot",
                "--",
                "/bin/echo",
                "-n",
                "x"
            ]
        );
        assert_eq!(
            apart(&[
                "--rootfs",
                "/r",
                "-e",
                "A=1",
                "--workdir",
                "/tmp",
                "sh",
                "-c",
                "env"
            ]),
            [
                "--rootfs",
                "/r",
                "-e",
                "A=1",
                "--workdir",
                "/tmp",
                "--",
                "sh",
                "-c",
                "env"
            ]
        );
        assert_eq!(
            apart(&["--strace", "prog", "-L"]),
            ["--strace", "--", "prog", "-L"]
        );
        // Already apart, or no program: as given.
        assert_eq!(apart(&["--", "a", "-e"]), ["--", "a", "-e"]);
        assert_eq!(apart(&["--strace"]), ["--strace"]);
        // And clap then gives the program every word after it.
        let cli = RunCli::parse_from(
            std::iter::once("xarch run".to_string())
                .chain(apart(&["-L", "/r", "perl", "-e", "print 1", "-L", "x"])),
        );
        assert_eq!(cli.args.program, std::path::PathBuf::from("perl"));
        assert_eq!(cli.args.args, ["-e", "print 1", "-L", "x"]);
        assert_eq!(cli.args.sysroot, Some("/r".into()));
    }
}
