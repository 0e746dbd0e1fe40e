//! `status`: what is registered, which handler wins for each architecture.

use crate::Error;
use crate::arch::{ARCHES, elf_platform, encode_hex};
use crate::entry::{Entry, Flags, Matcher, winner};
use crate::fs::BinfmtFs;
use crate::install::Layout;
use serde::Serialize;
use std::path::PathBuf;

/// The status report. `supported` and `emulators` mean what they mean in
/// tonistiigi/binfmt's output; the rest is xarch's own detail.
#[derive(Debug, Serialize)]
pub struct Status {
    /// Platforms this machine runs: native ones, then those with an enabled
    /// handler.
    pub supported: Vec<String>,
    /// Names of all binfmt_misc entries.
    pub emulators: Vec<String>,
    /// Where binfmt_misc is mounted.
    pub mountpoint: PathBuf,
    /// Whether binfmt_misc as a whole is enabled.
    pub enabled: bool,
    /// Every entry, in the order the kernel tries them.
    pub handlers: Vec<Handler>,
    /// Per architecture xarch supports: who handles it.
    pub arches: Vec<ArchStatus>,
}

/// One binfmt_misc entry.
#[derive(Debug, Serialize)]
pub struct Handler {
    /// Entry name.
    pub name: String,
    /// Whether it is enabled.
    pub enabled: bool,
    /// Interpreter path.
    pub interpreter: String,
    /// Flags, as the kernel prints them (`POCF`).
    pub flags: Flags,
    /// Offset of the magic (absent for extension entries).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<usize>,
    /// Magic as hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub magic: Option<String>,
    /// Mask as hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mask: Option<String>,
    /// File name extension (extension entries).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extension: Option<String>,
    /// The platform whose ELF files it selects, when recognisable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
}

/// One architecture xarch supports.
#[derive(Debug, Serialize)]
pub struct ArchStatus {
    /// Architecture name.
    pub arch: String,
    /// Platform.
    pub platform: String,
    /// Whether xarch's entry is registered and enabled.
    pub installed: bool,
    /// Whether a binfmt.d drop-in exists for it.
    pub persistent: bool,
    /// The entry the kernel uses for these binaries now (none: no handler).
    pub handler: Option<String>,
    /// Other enabled entries for the same binaries.
    pub conflicts: Vec<String>,
}

impl From<&Entry> for Handler {
    fn from(e: &Entry) -> Handler {
        let mut h = Handler {
            name: e.name.clone(),
            enabled: e.enabled,
            interpreter: e.interpreter.clone(),
            flags: e.flags,
            offset: None,
            magic: None,
            mask: None,
            extension: None,
            platform: None,
        };
        match &e.matcher {
            Matcher::Magic {
                offset,
                magic,
                mask,
            } => {
                h.offset = Some(*offset);
                h.magic = Some(encode_hex(magic));
                h.mask = Some(encode_hex(mask));
                h.platform = elf_platform(*offset, magic, mask).map(str::to_owned);
            }
            Matcher::Extension(x) => h.extension = Some(x.clone()),
        }
        h
    }
}

/// Platforms the host runs natively.
fn native_platforms() -> &'static [&'static str] {
    match std::env::consts::ARCH {
        "x86_64" => &["linux/amd64", "linux/386"],
        "aarch64" => &["linux/arm64"],
        "riscv64" => &["linux/riscv64"],
        _ => &[],
    }
}

/// Builds the status report from a mounted instance.
pub fn status(bfs: &BinfmtFs, layout: &Layout) -> Result<Status, Error> {
    let entries = bfs.entries()?;
    let enabled = bfs.enabled()?;
    Ok(report(bfs.dir().to_owned(), enabled, &entries, |a| {
        layout.conf_file(a).exists()
    }))
}

fn report(
    mountpoint: PathBuf,
    enabled: bool,
    entries: &[Entry],
    persistent: impl Fn(&crate::Arch) -> bool,
) -> Status {
    let handlers: Vec<Handler> = entries.iter().map(Handler::from).collect();
    let mut supported: Vec<String> = native_platforms().iter().map(|s| s.to_string()).collect();
    if enabled {
        for h in handlers.iter().filter(|h| h.enabled) {
            if let Some(p) = &h.platform
                && !supported.contains(p)
            {
                supported.push(p.clone());
            }
        }
    }
    let arches = ARCHES
        .iter()
        .map(|a| {
            let m = Matcher::of_arch(a);
            let ours = a.entry_name();
            let win = if enabled { winner(entries, &m) } else { None };
            ArchStatus {
                arch: a.name.into(),
                platform: a.platform.into(),
                installed: entries.iter().any(|e| e.name == ours && e.enabled),
                persistent: persistent(a),
                handler: win.map(|e| e.name.clone()),
                conflicts: entries
                    .iter()
                    .filter(|e| e.enabled && e.matcher.overlaps(&m) && e.name != ours)
                    .map(|e| e.name.clone())
                    .collect(),
            }
        })
        .collect();
    Status {
        supported,
        emulators: entries.iter().map(|e| e.name.clone()).collect(),
        mountpoint,
        enabled,
        handlers,
        arches,
    }
}

impl Status {
    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("status serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, machine: &str, enabled: bool) -> Entry {
        Entry::parse(
            name,
            &format!(
                "{}\ninterpreter /usr/bin/{name}\nflags: F\noffset 0\nmagic 7f454c4602010100000000000000000002{machine}00\nmask ffffffffffffff00fffffffffffffffffeffffff\n",
                if enabled { "enabled" } else { "disabled" }
            ),
        )
        .unwrap()
    }

    #[test]
    fn report_names_winner_and_conflicts() {
        let entries = vec![
            entry("qemu-aarch64", "00b7", true),
            entry("xarch-aarch64", "00b7", true),
            entry("qemu-riscv64", "00f3", true),
            entry("qemu-off", "0016", false),
        ];
        let s = report("/m".into(), true, &entries, |_| false);
        assert_eq!(
            s.emulators,
            ["qemu-aarch64", "xarch-aarch64", "qemu-riscv64", "qemu-off"]
        );
        assert!(s.supported.contains(&"linux/arm64".to_string()));
        assert!(s.supported.contains(&"linux/riscv64".to_string()));
        assert!(!s.supported.contains(&"linux/s390x".to_string()));
        let a = &s.arches[0];
        assert!(a.installed);
        assert_eq!(a.handler.as_deref(), Some("qemu-aarch64"));
        assert_eq!(a.conflicts, ["qemu-aarch64"]);
        let json: serde_json::Value = serde_json::from_str(&s.to_json()).unwrap();
        assert_eq!(json["handlers"][1]["flags"], "F");
        assert_eq!(json["handlers"][1]["interpreter"], "/usr/bin/xarch-aarch64");
        assert_eq!(json["handlers"][3]["enabled"], false);
        assert_eq!(json["arches"][0]["handler"], "qemu-aarch64");

        // Globally disabled: nothing emulated, nobody wins.
        let off = report("/m".into(), false, &entries, |_| true);
        assert!(!off.supported.contains(&"linux/arm64".to_string()));
        assert_eq!(off.arches[0].handler, None);
        assert!(off.arches[0].persistent);
    }
}
