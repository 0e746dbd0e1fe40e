//! Shared by the binfmt tests (also included by crates/xarch/tests/binfmt_ns.rs):
//! run a shell script in a new user + mount namespace with its own PRIVATE
//! binfmt_misc instance, so nothing is ever registered on the host; snapshot
//! the host's instance to prove it; fetch Debian's arm64 busybox-static.
#![allow(dead_code)]

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Pinned fixture: Debian bookworm's arm64 busybox-static.
pub const BUSYBOX_VERSION: &str = "1:1.35.0-4+deb12u1+b1";

/// Exit status of the namespace prologue when the private instance cannot
/// be made (kernel older than 6.7, no user namespaces): tests skip.
pub const SKIP_STATUS: i32 = 77;

/// `$XARCH_CACHE`, or `<repo>/.cache`.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("XARCH_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.cache"))
}

/// Pinned fixture: Debian bookworm's arm64 C library (the dynamic loader
/// and libc for a dynamically linked arm64 program in a chroot).
pub const LIBC6_VERSION: &str = "2.36-9+deb12u14";

/// Debian's arm64 busybox (downloaded once into the cache), or a reason to skip.
pub fn busybox() -> Result<PathBuf, String> {
    Ok(debian_arm64("busybox-static", BUSYBOX_VERSION, "bin/busybox")?.join("bin/busybox"))
}

/// Debian's arm64 libc6 unpacked (a directory with `lib/ld-linux-aarch64.so.1`
/// and `lib/aarch64-linux-gnu/libc.so.6`), or a reason to skip.
pub fn libc6_arm64() -> Result<PathBuf, String> {
    debian_arm64("libc6", LIBC6_VERSION, "lib/aarch64-linux-gnu/libc.so.6")
}

/// Debian's arm64 package `name` at `version`, downloaded once into
/// `$XARCH_CACHE/debs` and unpacked (without running any of its scripts)
/// into `$XARCH_CACHE/<name>-arm64-<version>`, which is returned once
/// `check` (a path inside it) exists.
pub fn debian_arm64(name: &str, version: &str, check: &str) -> Result<PathBuf, String> {
    let dir = cache_dir().join(format!("{name}-arm64-{}", version.replace(':', "_")));
    if dir.join(check).exists() {
        return Ok(dir);
    }
    let debs = cache_dir().join("debs");
    std::fs::create_dir_all(&debs).map_err(|e| e.to_string())?;
    let pkg = format!("{name}:arm64={version}");
    // The file name has the epoch escaped (1%3a...) or dropped, depending on
    // apt's version: match on name and architecture, then on the version
    // dpkg-deb reports.
    let find = || -> Option<PathBuf> {
        std::fs::read_dir(&debs)
            .ok()?
            .flatten()
            .map(|d| d.path())
            .find(|p| {
                let n = p.file_name().unwrap().to_string_lossy();
                n.starts_with(&format!("{name}_"))
                    && n.ends_with("_arm64.deb")
                    && Command::new("dpkg-deb")
                        .args(["-f"])
                        .arg(p)
                        .arg("Version")
                        .output()
                        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == version)
            })
    };
    let deb = match find() {
        Some(d) => d,
        None => {
            // A failed download leaves no .deb behind; that is reported below.
            let _ = Command::new("apt-get")
                .args(["download", &pkg])
                .current_dir(&debs)
                .stderr(Stdio::null())
                .stdout(Stdio::null())
                .status();
            find().ok_or_else(|| {
                format!(
                    "cannot download {pkg} with apt-get (dpkg --add-architecture arm64; apt-get update)"
                )
            })?
        }
    };
    // Unpack next to the final directory and rename, so a concurrent or
    // interrupted run never sees half a tree.
    let tmp = cache_dir().join(format!(".{name}-arm64-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let st = Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(&tmp)
        .status()
        .map_err(|e| e.to_string())?;
    if !st.success() || !tmp.join(check).exists() {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(format!("dpkg-deb -x {} failed", deb.display()));
    }
    if std::fs::rename(&tmp, &dir).is_err() {
        // Another test unpacked it first.
        let _ = std::fs::remove_dir_all(&tmp);
    }
    if dir.join(check).exists() {
        Ok(dir)
    } else {
        Err(format!("{} has no {check}", dir.display()))
    }
}

/// The host's (initial user namespace's) binfmt_misc entries and their
/// contents, read through a mount in a private mount namespace so the
/// host's mount table is left alone. `None` when we cannot look (not root).
pub fn host_snapshot() -> Option<String> {
    let dir = tempfile::tempdir().ok()?;
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-euc"])
        .arg(
            r#"mount -t binfmt_misc binfmt_misc "$1"
               cat "$1/status"
               for f in "$1"/*; do
                 case "$f" in */register|*/status) continue;; esac
                 echo "== $f"; cat "$f"
               done"#,
        )
        .arg("sh")
        .arg(dir.path())
        .stdin(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).replace(&*dir.path().to_string_lossy(), "M"))
}

/// Result of [`in_private_binfmt`].
pub enum NsRun {
    /// The script ran.
    Ran(Output),
    /// The private instance could not be made.
    Skip(String),
}

/// Runs `script` with `sh -eu` as root of a new user namespace (uids and gids
/// 0-65535 mapped to the same host ids, so setuid and setpriv work) in a new
/// private mount namespace, after mounting a private binfmt_misc instance at
/// `$M`. `$T` is a scratch directory, world-readable.
pub fn in_private_binfmt(script: &str, env: &[(&str, OsString)]) -> NsRun {
    let tmp = tempfile::tempdir().expect("tempdir");
    let m = tmp.path().join("binfmt_misc");
    std::fs::create_dir(&m).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let full = format!(
        r#"read go
if ! mount -t binfmt_misc binfmt_misc "$M" 2>/dev/null; then
  echo "cannot mount a private binfmt_misc in a user namespace (needs Linux 6.7+)" >&2; exit {SKIP_STATUS}
fi
# Paranoia: a fresh private instance is empty. If we ever saw the host's
# (non-empty) instance here, stop before writing anything.
[ "$(ls "$M" | grep -v -x -e register -e status | wc -l)" = 0 ] || {{ echo "binfmt_misc at $M is not private" >&2; exit 1; }}
{script}"#
    );
    let mut cmd = Command::new("unshare");
    cmd.args([
        "--user",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-euc",
    ])
    .arg(&full)
    .env("M", &m)
    .env("T", tmp.path())
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return NsRun::Skip(format!("cannot run unshare(1): {e}")),
    };
    // Map the ids from outside once the child is in its new user namespace.
    let pid = child.id();
    let own = std::fs::read_link("/proc/self/ns/user").unwrap();
    let start = Instant::now();
    let mut mapped = false;
    while start.elapsed() < Duration::from_secs(10) {
        match std::fs::read_link(format!("/proc/{pid}/ns/user")) {
            Ok(ns) if ns != own => {
                mapped = std::fs::write(format!("/proc/{pid}/uid_map"), "0 0 65536").is_ok()
                    && std::fs::write(format!("/proc/{pid}/gid_map"), "0 0 65536").is_ok();
                break;
            }
            Ok(_) => std::thread::sleep(Duration::from_millis(2)),
            Err(_) => break,
        }
    }
    if !mapped {
        let _ = child.kill();
        let _ = child.wait();
        return NsRun::Skip("cannot create a user namespace with mapped ids (not root?)".into());
    }
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let out = child.wait_with_output().unwrap();
    if out.status.code() == Some(SKIP_STATUS) {
        return NsRun::Skip(String::from_utf8_lossy(&out.stderr).trim().to_owned());
    }
    drop(tmp);
    NsRun::Ran(out)
}

/// Formats an output for assertion messages.
pub fn show(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
