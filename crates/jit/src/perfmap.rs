//! `perf` symbols for compiled code: with `XARCH_PERF_MAP` set, every
//! block and region installed is appended to `/tmp/perf-<pid>.map` (the
//! file `perf report` reads for JIT code) as `baseline_<guest pc>` or
//! `region_<guest pc>`, so profiles show which guest code is hot and in
//! which tier.

use std::io::Write;
use std::sync::{Mutex, OnceLock};

/// The open map and the process it is for (a forked child writes its
/// own).
/// `None` inside: it could not be opened (said once).
static MAP: Mutex<Option<(u32, Option<std::fs::File>)>> = Mutex::new(None);

fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("XARCH_PERF_MAP").is_some())
}

/// `XARCH_PERF_MAP=dump` also writes each piece of code's bytes, as
/// compiled, to `/tmp/perf-<pid>.code/<name>.bin` (for disassembling the
/// hot code a profile names).
fn dumping() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("XARCH_PERF_MAP").is_some_and(|v| v == "dump"))
}

/// The open map's descriptor (an in-process exec keeps it open).
pub fn descriptor() -> Option<i32> {
    use std::os::fd::AsRawFd;
    let map = MAP.lock().unwrap_or_else(|e| e.into_inner());
    map.as_ref()?.1.as_ref().map(|f| f.as_raw_fd())
}

/// Records `len` bytes of code at `addr` under `name`.
pub(crate) fn record(addr: *const u8, len: usize, name: core::fmt::Arguments<'_>) {
    if !enabled() {
        return;
    }
    let mut map = MAP.lock().unwrap_or_else(|e| e.into_inner());
    let pid = std::process::id();
    if map.as_ref().is_none_or(|(p, _)| *p != pid) {
        let path = format!("/tmp/perf-{pid}.map");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .inspect_err(|e| eprintln!("xarch: XARCH_PERF_MAP: {path}: {e}"))
            .ok();
        *map = Some((pid, file));
    }
    if let Some((_, Some(f))) = map.as_mut() {
        // A failed write only loses a symbol.
        let _ = writeln!(f, "{:x} {:x} {}", addr as usize, len, name);
    }
    if dumping() {
        let dir = format!("/tmp/perf-{pid}.code");
        let _ = std::fs::create_dir_all(&dir);
        // SAFETY: the caller's code is `len` bytes at `addr`, written
        // before it is recorded.
        let code = unsafe { core::slice::from_raw_parts(addr, len) };
        // A failed write only loses a dump.
        let _ = std::fs::write(format!("{dir}/{name}.bin"), code);
    }
}
