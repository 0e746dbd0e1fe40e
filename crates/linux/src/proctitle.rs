//! What other processes see of an in-process exec ([`crate::exec`]):
//! `/proc/PID/cmdline` and `/proc/PID/environ` read the areas where the
//! kernel copied the arguments and environment of this process's last
//! host exec (xarch's own command line). After an in-process exec they
//! name the new program: its arguments joined by spaces, the way
//! `setproctitle` rewrites a title (the kernel then reads one string from
//! the start of the arguments, up to a page), and its environment, as
//! much of it as fits the environment's area, when the title fits the
//! arguments' area. A longer title continues into the environment's area,
//! and /proc/PID/environ then reads the title's end.
//!
//! The first time, xarch's own environment strings are moved off the area
//! (glibc's `setenv` copies each one); xarch's saved `argv` is not read
//! after start-up.

use std::ffi::OsString;
use std::ops::Range;
use std::os::unix::ffi::OsStrExt;
use std::sync::OnceLock;

/// The kernel reads a rewritten title from one page.
const TITLE_MAX: usize = 4096;

struct Areas {
    args: Range<usize>,
    env: Range<usize>,
}

static AREAS: OnceLock<Option<Areas>> = OnceLock::new();

fn areas() -> Option<&'static Areas> {
    AREAS.get_or_init(find).as_ref()
}

/// Finds the areas now, so that the children this process forks next
/// inherit them instead of each finding them at its first exec (a read
/// of /proc/self/stat and a copy of the environment: 5% of a shell loop
/// of /bin/true did that). Only while the guest has one thread: finding
/// them rewrites the environment, which another thread could be reading.
pub fn prepare() {
    if crate::thread::live_threads() == 1 {
        areas();
    }
}

/// Reads the areas from /proc/self/stat (fields 48-51) and frees the
/// environment's.
fn find() -> Option<Areas> {
    let f = crate::procfs::host_stat("self", &[48, 49, 50, 51])?;
    let (a0, a1, e0, e1) = (f[0] as usize, f[1] as usize, f[2] as usize, f[3] as usize);
    if !(0 < a0 && a0 < a1 && a1 <= e0 && e0 <= e1) {
        return None;
    }
    for (k, v) in std::env::vars_os() {
        // SAFETY: the only other host thread that may exist, the optimizing
        // tier's compiler, never reads the environment; setting each
        // variable to its own value makes glibc copy it off the area.
        unsafe { std::env::set_var(k, v) };
    }
    unsafe extern "C" {
        static environ: *const *const libc::c_char;
    }
    // SAFETY: environ is glibc's NULL-terminated array of live strings.
    unsafe {
        let mut p = environ;
        while !p.is_null() && !(*p).is_null() {
            if (e0..e1).contains(&(*p as usize)) {
                return None; // a string setenv could not move (no '=')
            }
            p = p.add(1);
        }
    }
    Some(Areas {
        args: a0..a1,
        env: e0..e1,
    })
}

/// The title of `argv`: its arguments joined by spaces, NUL-terminated.
fn title(argv: &[OsString]) -> Vec<u8> {
    let mut t = argv
        .iter()
        .map(|a| a.as_bytes())
        .collect::<Vec<_>>()
        .join(&b' ');
    t.push(0);
    t
}

/// Room for a title: the arguments' area and, when it follows, the
/// environment's.
fn room(a: &Areas) -> usize {
    let end = if a.args.end == a.env.start {
        a.env.end
    } else {
        a.args.end
    };
    (end - a.args.start).min(TITLE_MAX)
}

/// Whether the title of `argv` can be shown (see the module documentation),
/// or why not.
pub fn fits(argv: &[OsString]) -> Result<(), crate::exec::Refusal> {
    let a = areas().ok_or(
        "the host's argument and environment areas are unknown \
         (/proc/self/stat unreadable, or an environment string without '=')",
    )?;
    if title(argv).len() > room(a) {
        return Err("the new command line is longer than the host's area for it");
    }
    Ok(())
}

/// Shows `argv` and `env` (`NAME=value` strings) as this process's
/// command line and environment; a title that does not [`fits`] is cut.
pub fn set(argv: &[OsString], env: &[OsString]) {
    let Some(a) = areas() else { return };
    let mut t = title(argv);
    t.truncate(room(a));
    if let Some(last) = t.last_mut() {
        *last = 0;
    }
    let args_len = a.args.len();
    // SAFETY: both areas are this process's own stack memory, holding
    // strings nothing refers to any more (see `find` and the module
    // documentation); every write stays inside them.
    unsafe {
        let args = std::slice::from_raw_parts_mut(a.args.start as *mut u8, args_len);
        if t.len() <= args_len {
            args[..t.len()].copy_from_slice(&t);
            // A non-NUL last byte makes the kernel read up to the title's NUL.
            args[t.len()..].fill(b' ');
            args[args_len - 1] = if t.len() == args_len { 0 } else { b' ' };
            let area = std::slice::from_raw_parts_mut(a.env.start as *mut u8, a.env.len());
            let mut at = 0;
            for e in env {
                let e = e.as_bytes();
                if at + e.len() + 1 > area.len() {
                    break;
                }
                area[at..at + e.len()].copy_from_slice(e);
                area[at + e.len()] = 0;
                at += e.len() + 1;
            }
            area[at..].fill(0);
        } else {
            // Into the environment's area, which follows: /proc/PID/environ
            // reads the title's end.
            let both =
                std::slice::from_raw_parts_mut(a.args.start as *mut u8, a.env.end - a.args.start);
            both[..t.len()].copy_from_slice(&t);
            both[t.len()..].fill(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_join_arguments_with_spaces() {
        let argv: Vec<OsString> = ["sh", "-c", "echo hi"].iter().map(Into::into).collect();
        assert_eq!(title(&argv), b"sh -c echo hi\0");
        let a = Areas {
            args: 100..110,
            env: 110..5000,
        };
        assert_eq!(room(&a), TITLE_MAX);
        let a = Areas {
            args: 100..110,
            env: 120..5000,
        };
        assert_eq!(room(&a), 10);
    }
}
