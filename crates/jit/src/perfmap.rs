//! `perf` symbols for compiled code: with `XARCH_PERF_MAP` set, every
//! block and region installed is appended to `/tmp/perf-<pid>.map` (the
//! file `perf report` reads for JIT code) as `baseline_<guest pc>` or
//! `region_<guest pc>`, so profiles show which guest code is hot and in
//! which tier.

use std::io::Write;
use std::sync::Mutex;

static MAP: Mutex<Option<Option<std::fs::File>>> = Mutex::new(None);

/// Records `len` bytes of code at `addr` under `name`.
pub(crate) fn record(addr: *const u8, len: usize, name: core::fmt::Arguments<'_>) {
    let Ok(mut map) = MAP.lock() else {
        return;
    };
    let file = map.get_or_insert_with(|| {
        std::env::var_os("XARCH_PERF_MAP")?;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(format!("/tmp/perf-{}.map", std::process::id()))
            .ok()
    });
    if let Some(f) = file {
        // A failed write only loses a symbol.
        let _ = writeln!(f, "{:x} {:x} {}", addr as usize, len, name);
    }
}
