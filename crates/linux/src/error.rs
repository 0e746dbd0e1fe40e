//! Why a guest program could not be started, and the exit status each
//! reason maps to.
//!
//! | status | meaning                                                      |
//! |--------|--------------------------------------------------------------|
//! | 127    | the program (or a file it needs) does not exist              |
//! | 126    | the program exists but cannot be opened or read              |
//! | 125    | xarch itself failed (usage error, internal error)            |
//! | 124    | the program is not an ELF file                               |
//! | 123    | an ELF file for another machine or class (not 64-bit arm64)  |
//! | 122    | a malformed or truncated ELF file                            |
//! | 121    | the program interpreter (dynamic loader) is not available    |
//! | 120    | the program could not be placed in memory                    |

use std::path::PathBuf;

/// Errors of loading a guest program.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The program file does not exist.
    #[error("{0}: no such file or directory")]
    NotFound(PathBuf),
    /// The program file cannot be opened or read.
    #[error("{path}: cannot execute: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The host error.
        source: std::io::Error,
    },
    /// Not an ELF file.
    #[error("{0}: not an ELF executable")]
    NotElf(PathBuf),
    /// An ELF file for another machine.
    #[error("{path}: ELF for {what}, not 64-bit little-endian arm64 (aarch64)")]
    WrongArch {
        /// The file.
        path: PathBuf,
        /// What it is instead.
        what: String,
    },
    /// A malformed or truncated ELF file.
    #[error("{path}: malformed ELF: {why}")]
    BadElf {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// The program interpreter named in PT_INTERP is not available.
    #[error("{program}: dynamically linked; its loader {interp} was not found{hint}")]
    MissingInterpreter {
        /// The program.
        program: PathBuf,
        /// The loader path from PT_INTERP.
        interp: String,
        /// Where we looked.
        hint: String,
    },
    /// Mapping the program failed.
    #[error("{path}: cannot map {what}: {source}")]
    Map {
        /// The file.
        path: PathBuf,
        /// Which part.
        what: String,
        /// The host error.
        source: std::io::Error,
    },
}

impl LoadError {
    /// The process exit status for this error (see the module docs).
    pub fn exit_code(&self) -> u8 {
        match self {
            LoadError::NotFound(_) => 127,
            LoadError::Io { .. } => 126,
            LoadError::NotElf(_) => 124,
            LoadError::WrongArch { .. } => 123,
            LoadError::BadElf { .. } => 122,
            LoadError::MissingInterpreter { .. } => 121,
            LoadError::Map { .. } => 120,
        }
    }
}
