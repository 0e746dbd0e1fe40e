//! What a figure needs next to it: the machine, its load, the commit; and
//! writing a marked section of docs/PERFORMANCE.md.

use std::path::Path;
use std::process::Command;

/// `model name` of /proc/cpuinfo.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// The 1, 5 and 15 minute load averages, as /proc/loadavg prints them.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// "CPU, N cores, Linux X, M GiB RAM".
pub fn machine() -> String {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| format!(", {:.0} GiB RAM", kb / (1024.0 * 1024.0)))
        .unwrap_or_default();
    format!(
        "{}, {cores} cores, Linux {}{mem_gib}",
        cpu_model(),
        kernel.trim()
    )
}

/// The short commit of the working tree (with `+dirty` when it has
/// uncommitted changes), or "unknown".
pub fn commit() -> String {
    let out = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match out(&["rev-parse", "--short", "HEAD"]) {
        Some(c) if !c.is_empty() => {
            let dirty = out(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            if dirty { format!("{c}+dirty") } else { c }
        }
        _ => "unknown".into(),
    }
}

/// UTC date and time, as `date -u` prints it (no extra crate for one line).
pub fn now_utc() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// Writes `section` (which starts with `start` and ends with `end`) into
/// the Markdown file at `path`, replacing the old section between the same
/// markers; the rest of the file is left alone.
pub fn write_section(path: &Path, start: &str, end: &str, section: &str) -> anyhow::Result<()> {
    let old =
        std::fs::read_to_string(path).unwrap_or_else(|_| "# Performance measurements\n".into());
    std::fs::write(
        path,
        crate::table::replace_section(&old, start, end, section),
    )?;
    Ok(())
}
