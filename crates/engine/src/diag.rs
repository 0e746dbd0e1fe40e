//! xarch's own lines on stderr (statistics, opt-in logs, strace), each
//! written with one `write`: a process tree under xarch (a shell
//! pipeline) prints from several processes at once, and `eprintln!`
//! writes a line piece by piece (one write per argument), so two
//! processes' lines interleaved mid-line.

use std::io::Write;

/// Writes `args` and a newline to stderr in one write (errors ignored:
/// there is nowhere to report them).
pub fn line(args: std::fmt::Arguments<'_>) {
    let mut s = args.to_string();
    s.push('\n');
    let _ = std::io::stderr().lock().write_all(s.as_bytes());
}

/// `eprintln!` as one write (see [`line`]).
#[macro_export]
macro_rules! diag {
    ($($arg:tt)*) => {
        $crate::diag::line(format_args!($($arg)*))
    };
}
