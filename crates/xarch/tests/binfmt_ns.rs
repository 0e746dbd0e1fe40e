//! `xarch binfmt install|uninstall|status` and transparent execution, run in
//! a new user + mount namespace with a PRIVATE binfmt_misc instance (Linux
//! 6.7+; skipped with a message otherwise). Each test checks afterwards that
//! the host's binfmt_misc is unchanged.
//!
//! End-to-end tests (`xarch::*`) register a STATIC xarch as the handler, as
//! a real deployment must (with the F flag the kernel starts it inside
//! chroots and containers, where no loader of ours exists), and let the
//! kernel start Debian's arm64 busybox and a small C probe through it:
//! directly, in an arm64 rootfs via chroot (a dynamically linked program
//! with Debian's arm64 glibc), with P, O, C, and after uninstall. The probe
//! prints what a program can see of how it was started (/proc/self/exe,
//! argv, AT_EXECFN, AT_SECURE, AT_FLAGS, AT_EXECFD, ids, open descriptors,
//! environment); its output must equal that of the same probe built for
//! x86_64 and started the same way, but for `uname -m`.
//!
//! The static xarch is `$XARCH_STATIC_BIN`, or linked once per run into
//! `target/static-xarch` (`cargo rustc -p xarch --bin xarch -- -C
//! target-feature=+crt-static`: only the final link differs). The
//! `stand_in::*` variants register `$XARCH_BINFMT_TEST_INTERP` (e.g.
//! Debian's qemu-aarch64-static) instead, and skip when it is unset.

#[path = "../../binfmt/tests/common/mod.rs"]
mod common;

use common::{NsRun, busybox, host_snapshot, in_private_binfmt, libc6_arm64, show};
use serde_json::Value;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The xarch of this test build (dynamically linked).
const XARCH: &str = env!("CARGO_BIN_EXE_xarch");

/// Runs `script` in the namespace (see common) with `$XARCH` (the CLI),
/// `$BUSYBOX`, `$INTERP` (empty: the CLI's own binary is registered) and
/// `extra` set, checking the host is untouched. `None`: skipped.
fn ns(
    script: &str,
    cli: &Path,
    interp: Option<&Path>,
    extra: &[(&str, OsString)],
) -> Option<Output> {
    // Linking the static xarch runs cargo, which may re-link files under
    // target/: let that happen before any test of this binary runs one.
    let _ = static_xarch_result();
    let bb = match busybox() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("skipped: {e}");
            return None;
        }
    };
    let interp: OsString = interp.map(|p| p.as_os_str().to_owned()).unwrap_or_default();
    let mut env = vec![
        ("XARCH", OsString::from(cli)),
        ("BUSYBOX", bb.into()),
        ("INTERP", interp),
    ];
    env.extend(extra.iter().cloned());
    let before = host_snapshot();
    let out = match in_private_binfmt(script, &env) {
        NsRun::Ran(out) => out,
        NsRun::Skip(why) => {
            eprintln!("skipped: {why}");
            return None;
        }
    };
    let after = host_snapshot();
    assert_eq!(before, after, "the host's binfmt_misc changed");
    if before.is_none() {
        eprintln!("note: could not read the host's binfmt_misc to compare");
    }
    Some(out)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The JSON documents printed between `=== name` markers.
fn json_section(out: &Output, name: &str) -> Value {
    let text = stdout(out);
    let start = text
        .find(&format!("=== {name}\n"))
        .unwrap_or_else(|| panic!("no section {name}:\n{}", show(out)))
        + name.len()
        + 5;
    let end = text[start..].find("=== ").map_or(text.len(), |e| start + e);
    serde_json::from_str(&text[start..end])
        .unwrap_or_else(|e| panic!("section {name}: {e}\n{}", show(out)))
}

#[test]
fn install_status_uninstall() {
    let Some(out) = ns(
        r#"
R="$T/root"
echo "=== empty"; "$XARCH" binfmt status --json --mountpoint "$M" --root "$R"
"$XARCH" binfmt install --arch arm64 --mountpoint "$M" --root "$R" >/dev/null
echo "=== installed"; "$XARCH" binfmt status --json --mountpoint "$M" --root "$R"
test -x "$R/run/xarch/xarch-aarch64-binfmt"
"$XARCH" binfmt install --flags CF --persistent --mountpoint "$M" --root "$R" >/dev/null
echo "=== persistent"; "$XARCH" binfmt status --json --mountpoint "$M" --root "$R"
echo "=== conf"; cat "$R/etc/binfmt.d/xarch-aarch64.conf"
"$XARCH" binfmt uninstall --arch all --mountpoint "$M" --root "$R" >/dev/null
echo "=== removed"; "$XARCH" binfmt status --json --mountpoint "$M" --root "$R"
echo "=== files"; find "$R" -type f
"#,
        XARCH.as_ref(),
        None,
        &[],
    ) else {
        return;
    };
    assert!(out.status.success(), "{}", show(&out));
    let empty = json_section(&out, "empty");
    assert_eq!(empty["emulators"], serde_json::json!([]));
    assert!(
        !empty["supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "linux/arm64")
    );

    let inst = json_section(&out, "installed");
    assert_eq!(inst["emulators"], serde_json::json!(["xarch-aarch64"]));
    assert!(
        inst["supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "linux/arm64")
    );
    let h = &inst["handlers"][0];
    assert_eq!(h["flags"], "POCF");
    assert_eq!(h["enabled"], true);
    assert_eq!(h["magic"], "7f454c460201010000000000000000000200b700");
    assert_eq!(h["mask"], "ffffffffffffff00fffffffffffffffffeffffff");
    assert!(
        h["interpreter"]
            .as_str()
            .unwrap()
            .ends_with("/root/run/xarch/xarch-aarch64-binfmt")
    );
    assert_eq!(inst["arches"][0]["handler"], "xarch-aarch64");
    assert_eq!(inst["arches"][0]["persistent"], false);

    let pers = json_section(&out, "persistent");
    assert_eq!(pers["handlers"][0]["flags"], "OCF");
    assert!(
        pers["handlers"][0]["interpreter"]
            .as_str()
            .unwrap()
            .ends_with("/root/usr/local/libexec/xarch/xarch-aarch64-binfmt")
    );
    assert_eq!(pers["arches"][0]["persistent"], true);
    let text = stdout(&out);
    assert!(
        text.contains(":/usr/local/libexec/xarch/xarch-aarch64-binfmt:OCF\n"),
        "binfmt.d drop-in must name the path inside the root:\n{text}"
    );

    let removed = json_section(&out, "removed");
    assert_eq!(removed["emulators"], serde_json::json!([]));
    assert_eq!(removed["arches"][0]["persistent"], false);
    let files = &text[text.find("=== files").unwrap()..];
    assert_eq!(
        files.lines().count(),
        1,
        "uninstall left files behind:\n{files}"
    );
}

#[test]
fn conflicting_handler_needs_replace() {
    let Some(out) = ns(
        r#"
qemu() { printf ':%s:M::\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/bin/true:F' "$1" > "$M/register"; }
qemu qemu-aarch64
if "$XARCH" binfmt install --mountpoint "$M" --root "$T/root" 2>"$T/err"; then echo "=== unexpected success"; fi
echo "=== refused"; "$XARCH" binfmt status --json --mountpoint "$M"
echo "=== message"; cat "$T/err"
"$XARCH" binfmt install --replace --mountpoint "$M" --root "$T/root" >/dev/null
echo "=== replaced"; "$XARCH" binfmt status --json --mountpoint "$M"
qemu qemu-aarch64-later
echo "=== shadowed"; "$XARCH" binfmt status --json --mountpoint "$M"
echo "=== text"; "$XARCH" binfmt status --mountpoint "$M"
"#,
        XARCH.as_ref(),
        None,
        &[],
    ) else {
        return;
    };
    assert!(out.status.success(), "{}", show(&out));
    let text = stdout(&out);
    assert!(!text.contains("unexpected success"), "{}", show(&out));
    let refused = json_section(&out, "refused");
    assert_eq!(
        refused["emulators"],
        serde_json::json!(["qemu-aarch64"]),
        "install must not change anything"
    );
    assert_eq!(refused["arches"][0]["handler"], "qemu-aarch64");
    let msg = &text[text.find("=== message").unwrap()..];
    assert!(
        msg.contains("qemu-aarch64 (/bin/true)")
            && msg.contains("now uses qemu-aarch64")
            && msg.contains("--replace"),
        "{msg}"
    );
    let replaced = json_section(&out, "replaced");
    assert_eq!(replaced["emulators"], serde_json::json!(["xarch-aarch64"]));
    // A handler registered later wins; status says so.
    let shadowed = json_section(&out, "shadowed");
    assert_eq!(shadowed["arches"][0]["handler"], "qemu-aarch64-later");
    assert_eq!(shadowed["arches"][0]["installed"], true);
    assert_eq!(
        shadowed["arches"][0]["conflicts"],
        serde_json::json!(["qemu-aarch64-later"])
    );
    assert!(
        text.contains("xarch is registered too but qemu-aarch64-later wins"),
        "{text}"
    );
}

#[test]
fn mounts_when_needed_and_refuses_clearly() {
    let Some(out) = ns(
        r#"
mkdir "$T/m2"
"$XARCH" binfmt status --mountpoint "$T/m2" >/dev/null
echo "=== fstype"; stat -f -c %T "$T/m2"
mkdir "$T/m3"; chmod 777 "$T/m3"
echo "=== user"; setpriv --reuid=1000 --regid=1000 --clear-groups "$XARCH" binfmt install --mountpoint "$T/m3" --root "$T/r" 2>&1 || echo "exit $?"
echo "=== plain"; "$XARCH" binfmt install --mountpoint "$T/nonexistent" 2>&1 || echo "exit $?"
"#,
        XARCH.as_ref(),
        None,
        &[],
    ) else {
        return;
    };
    assert!(out.status.success(), "{}", show(&out));
    let text = stdout(&out);
    assert!(
        text.contains("=== fstype\nbinfmt_misc\n"),
        "status must mount binfmt_misc:\n{text}"
    );
    let user = &text[text.find("=== user").unwrap()..text.find("=== plain").unwrap()];
    assert!(
        user.contains("cannot mount binfmt_misc")
            && user.contains("run as root")
            && user.contains("exit 125"),
        "{user}"
    );
    let plain = &text[text.find("=== plain").unwrap()..];
    assert!(
        plain.contains("no such directory") && plain.contains("exit 125"),
        "{plain}"
    );
}

// ---- end to end: arm64 programs started by the kernel through the handler

/// The handler an end-to-end test registers.
enum Handler {
    /// A static xarch: both the CLI and (a copy of it) the handler.
    Xarch(PathBuf),
    /// Another interpreter (qemu-aarch64-static), registered by this
    /// build's xarch with `--interpreter`.
    StandIn(PathBuf),
}

impl Handler {
    fn cli(&self) -> &Path {
        match self {
            Handler::Xarch(x) => x,
            Handler::StandIn(_) => Path::new(XARCH),
        }
    }

    fn interp(&self) -> Option<&Path> {
        match self {
            Handler::Xarch(_) => None,
            Handler::StandIn(i) => Some(i),
        }
    }

    /// The file the kernel will run.
    fn binary(&self) -> &Path {
        match self {
            Handler::Xarch(x) | Handler::StandIn(x) => x,
        }
    }
}

/// `$XARCH_STATIC_BIN`, or xarch linked static once per test run (see
/// [`link_static_xarch`]); `Err` says why there is none.
fn static_xarch_result() -> &'static Result<PathBuf, String> {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| {
        let bin = match std::env::var_os("XARCH_STATIC_BIN") {
            Some(p) => PathBuf::from(p),
            None => link_static_xarch()?,
        };
        if !bin.is_file() {
            return Err(format!("XARCH_STATIC_BIN: no file {}", bin.display()));
        }
        if is_dynamic(&bin) {
            return Err(format!(
                "{} is dynamically linked; the handler must be static",
                bin.display()
            ));
        }
        Ok(bin)
    })
}

/// The static xarch the end-to-end tests register.
fn static_xarch() -> PathBuf {
    static_xarch_result()
        .clone()
        .unwrap_or_else(|e| panic!("static xarch: {e}"))
}

/// Links this build's xarch again with `-C target-feature=+crt-static`
/// (static-pie) into `<target>/static-xarch/xarch-<profile>`, as
/// scripts/rootfs-static-xarch.sh does: only the final link differs from
/// the normal build, so it takes seconds and leaves `target/debug/xarch`
/// alone. Debug info is stripped: every install copies the binary.
fn link_static_xarch() -> Result<PathBuf, String> {
    let dir = Path::new(XARCH)
        .parent()
        .and_then(Path::parent)
        .ok_or("cannot find the target directory")?
        .join("static-xarch");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    // A fresh -o path each run: cargo sees new arguments and always runs
    // the link (a fresh unit would write nothing).
    let tmp = tempfile::tempdir_in(&dir).map_err(|e| e.to_string())?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    // The profile this test was built with (target/debug or target/release),
    // so the link reuses that build.
    let profile = match Path::new(XARCH).parent().and_then(Path::file_name) {
        Some(d) if d == "debug" => "dev",
        Some(d) => d.to_str().unwrap_or("dev"),
        None => "dev",
    };
    let mut cmd = Command::new(cargo);
    // Without the variables cargo set for this test: build scripts (ring's)
    // rerun when CARGO_MANIFEST_DIR, CARGO_PKG_* and the like differ, which
    // would rebuild half the workspace here and again in the next build.
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k.starts_with("CARGO_PKG_")
            || k.starts_with("CARGO_BIN_")
            || k.starts_with("CARGO_MANIFEST_")
            || k.starts_with("CARGO_CFG_")
            || [
                "CARGO_CRATE_NAME",
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_TARGET_TMPDIR",
                "OUT_DIR",
            ]
            .contains(&&*k)
        {
            cmd.env_remove(&*k);
        }
    }
    let out = cmd
        .args([
            "rustc",
            "--offline",
            "--profile",
            profile,
            "-p",
            "xarch",
            "--bin",
            "xarch",
            "--",
            "-C",
            "target-feature=+crt-static",
            "-C",
            "strip=debuginfo",
            "-o",
        ])
        .arg(tmp.path().join("xarch"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo rustc (static xarch) failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    // rustc appends cargo's -C extra-filename to -o: take the one binary.
    let built = std::fs::read_dir(tmp.path())
        .map_err(|e| e.to_string())?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_none_or(|e| e != "d"))
        .ok_or("cargo rustc wrote no binary")?;
    let bin = dir.join(format!("xarch-{profile}"));
    std::fs::rename(&built, &bin).map_err(|e| format!("{}: {e}", bin.display()))?;
    Ok(bin)
}

/// The test's stand-in interpreter, or `None` with a message.
fn stand_in() -> Option<Handler> {
    let p = std::env::var_os("XARCH_BINFMT_TEST_INTERP").map(PathBuf::from);
    if p.is_none() {
        eprintln!(
            "skipped: set XARCH_BINFMT_TEST_INTERP to a static arm64 interpreter (e.g. qemu-aarch64-static) to run the stand-in end-to-end tests"
        );
    }
    p.map(Handler::StandIn)
}

/// Installs the handler with `flags` and runs `script` (with `$BB`, a copy
/// of busybox, and `extra` set).
fn e2e(h: &Handler, flags: &str, script: &str, extra: &[(&str, OsString)]) -> Option<String> {
    let full = format!(
        r#"mkdir "$T/bin"; cp "$BUSYBOX" "$T/bin/busybox"; export BB="$T/bin/busybox"
"$XARCH" binfmt install --flags "{flags}" --mountpoint "$M" --root "$T/root" ${{INTERP:+"--interpreter=$INTERP"}} >/dev/null
{script}"#
    );
    let out = ns(&full, h.cli(), h.interp(), extra)?;
    assert!(out.status.success(), "{}", show(&out));
    Some(stdout(&out))
}

fn direct_exec(h: &Handler) {
    let Some(out) = e2e(
        h,
        "POCF",
        r#""$BB" echo hello from arm64; "$BB" uname -m; "$BB" sh -c '"$BB" echo nested'"#,
        &[],
    ) else {
        return;
    };
    assert_eq!(out, "hello from arm64\naarch64\nnested\n");
}

/// Whether an ELF64 file has a PT_INTERP (is dynamically linked).
fn is_dynamic(path: &Path) -> bool {
    let f = std::fs::read(path).unwrap();
    let u16_at = |o: usize| u16::from_le_bytes([f[o], f[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(f[32..40].try_into().unwrap()) as usize;
    let (phentsize, phnum) = (u16_at(54), u16_at(56));
    (0..phnum).any(|i| u32::from_le_bytes(f[phoff + i * phentsize..][..4].try_into().unwrap()) == 3)
}

/// A busybox rootfs in `$T/rootfs`, without the handler in it.
const BUSYBOX_ROOTFS: &str = r#"mkdir -p "$T/rootfs/bin" "$T/rootfs/proc"; cp "$BUSYBOX" "$T/rootfs/bin/busybox"; ln -s busybox "$T/rootfs/bin/sh"
"#;

fn chroot_with_f_flag(h: &Handler) {
    if is_dynamic(h.binary()) {
        // Its ELF interpreter (ld.so) would be looked up inside the chroot.
        eprintln!("skipped: {} is not statically linked", h.binary().display());
        return;
    }
    // The chroot does not have the handler in it: only F makes this work.
    // /proc is there, as in containers and most chroots.
    let script = format!(
        r#"{BUSYBOX_ROOTFS}mount --rbind /proc "$T/rootfs/proc"
chroot "$T/rootfs" /bin/sh -c 'echo inside; /bin/busybox uname -m; /bin/busybox echo nested'"#
    );
    let Some(out) = e2e(h, "POCF", &script, &[]) else {
        return;
    };
    assert_eq!(out, "inside\naarch64\nnested\n");
}

/// An arm64 program started inside the chroot starts another one while no
/// /proc is mounted (debootstrap's second stage does that).
fn chroot_without_proc_nested_exec(h: &Handler) {
    if is_dynamic(h.binary()) {
        eprintln!("skipped: {} is not statically linked", h.binary().display());
        return;
    }
    let script = format!(
        r#"{BUSYBOX_ROOTFS}chroot "$T/rootfs" /bin/sh -c 'echo inside; /bin/busybox echo nested'"#
    );
    let Some(out) = e2e(h, "POCF", &script, &[]) else {
        return;
    };
    assert_eq!(out, "inside\nnested\n");
}

fn preserved_argv0(h: &Handler) {
    // busybox picks the applet from argv[0]: "echo" only with P.
    let Some(out) = e2e(
        h,
        "POCF",
        r#"bash -c 'exec -a echo "$BB" argv0 preserved'"#,
        &[],
    ) else {
        return;
    };
    assert_eq!(out, "argv0 preserved\n");
}

fn unreadable_binary_with_o(h: &Handler) {
    let script = r#"chmod 0711 "$BB"
setpriv --reuid=1000 --regid=1000 --clear-groups sh -c 'cat "$BB" >/dev/null 2>&1 && echo readable || echo unreadable; "$BB" echo ran'"#;
    let Some(out) = e2e(h, "POCF", script, &[]) else {
        return;
    };
    assert_eq!(out, "unreadable\nran\n");
}

/// A minimal static arm64 ELF: `exit(geteuid())`. busybox cannot show
/// setuid (it drops privileges it was not built to need).
fn euid_exit_elf() -> Vec<u8> {
    const BASE: u64 = 0x40_0000;
    let code: [u32; 4] = [
        0xd280_15e8, // mov x8, #175 (geteuid)
        0xd400_0001, // svc #0
        0xd280_0ba8, // mov x8, #93 (exit)
        0xd400_0001, // svc #0
    ];
    let size = 64 + 56 + 4 * code.len() as u64;
    let mut f = Vec::new();
    f.extend_from_slice(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0");
    f.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    f.extend_from_slice(&183u16.to_le_bytes()); // EM_AARCH64
    f.extend_from_slice(&1u32.to_le_bytes());
    f.extend_from_slice(&(BASE + 120).to_le_bytes()); // e_entry
    f.extend_from_slice(&64u64.to_le_bytes()); // e_phoff
    f.extend_from_slice(&0u64.to_le_bytes()); // e_shoff
    f.extend_from_slice(&0u32.to_le_bytes()); // e_flags
    for v in [64u16, 56, 1, 64, 0, 0] {
        f.extend_from_slice(&v.to_le_bytes()); // ehsize, phentsize, phnum, shentsize, shnum, shstrndx
    }
    f.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    f.extend_from_slice(&5u32.to_le_bytes()); // R+X
    for v in [0, BASE, BASE, size, size, 0x1000] {
        f.extend_from_slice(&v.to_le_bytes());
    }
    for c in code {
        f.extend_from_slice(&c.to_le_bytes());
    }
    assert_eq!(f.len() as u64, size);
    f
}

fn setuid_with_c(h: &Handler) {
    let dir = tempfile::tempdir().unwrap();
    let elf = dir.path().join("euid");
    std::fs::write(&elf, euid_exit_elf()).unwrap();
    let script = r#"cp "$EUID_ELF" "$T/euid"; chown 0:0 "$T/euid"; chmod 4755 "$T/euid"
set +e
setpriv --reuid=1000 --regid=1000 --clear-groups "$T/euid"; echo "setuid root: $?"
chmod 0755 "$T/euid"
setpriv --reuid=1000 --regid=1000 --clear-groups "$T/euid"; echo "plain: $?""#;
    let Some(out) = e2e(h, "POCF", script, &[("EUID_ELF", elf.into())]) else {
        return;
    };
    // exit(geteuid()) & 0xff: 0 for root, 1000 & 0xff = 232 for the caller.
    assert_eq!(out, "setuid root: 0\nplain: 232\n");
}

fn uninstall_then_exec_fails(h: &Handler) {
    let script = r#""$BB" echo before
"$XARCH" binfmt uninstall --arch arm64 --mountpoint "$M" --root "$T/root" >/dev/null
if "$BB" echo after 2>"$T/err"; then echo "=== unexpectedly ran"; fi
echo "=== error"; cat "$T/err"
echo "=== status"; "$XARCH" binfmt status --json --mountpoint "$M" --root "$T/root"
echo "=== files"; if [ -d "$T/root" ]; then find "$T/root" -type f; fi"#;
    let Some(out) = e2e(h, "POCF", script, &[]) else {
        return;
    };
    assert!(out.starts_with("before\n=== error\n"), "{out}");
    let err = &out[out.find("=== error").unwrap()..out.find("=== status").unwrap()];
    assert!(err.contains("Exec format error"), "{out}");
    let status = &out[out.find("=== status").unwrap() + 11..out.find("=== files").unwrap()];
    let status: Value = serde_json::from_str(status).unwrap();
    assert_eq!(status["emulators"], serde_json::json!([]), "{out}");
    assert_eq!(out.lines().last(), Some("=== files"), "files left: {out}");
}

// ---- the guest cannot tell: a probe built for arm64 and for x86_64

/// Prints what a program sees of how it was started.
const PROBE_C: &str = r#"
#include <fcntl.h>
#include <stdio.h>
#include <sys/auxv.h>
#include <sys/utsname.h>
#include <unistd.h>
extern char **environ;
int main(int argc, char **argv) {
    struct utsname u;
    uname(&u);
    printf("machine=%s\n", u.machine);
    char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    buf[n < 0 ? 0 : n] = 0;
    printf("exe=%s\n", buf);
    printf("argc=%d\n", argc);
    for (int i = 0; i < argc; i++) printf("argv[%d]=%s\n", i, argv[i]);
    FILE *f = fopen("/proc/self/cmdline", "r");
    printf("cmdline=");
    for (int c; f && (c = getc(f)) != EOF;) putchar(c ? c : ' ');
    printf("\n");
    if (f) fclose(f);
    /* The kernel's view of the auxiliary vector: the entries that say how
       the program was started (values of pointers differ run to run). */
    f = fopen("/proc/self/auxv", "r");
    printf("procauxv=");
    unsigned long kv[2];
    while (f && fread(kv, sizeof kv, 1, f) == 1 && kv[0] != AT_NULL)
        if (kv[0] == AT_FLAGS || kv[0] == AT_SECURE || kv[0] == AT_EXECFD ||
            kv[0] == AT_UID || kv[0] == AT_EUID || kv[0] == AT_PAGESZ)
            printf("%lu:%lu ", kv[0], kv[1]);
    printf("\n");
    if (f) fclose(f);
    const char *fn = (const char *)getauxval(AT_EXECFN);
    printf("execfn=%s\n", fn ? fn : "(none)");
    printf("secure=%lu flags=%lu execfd=%lu\n", getauxval(AT_SECURE),
           getauxval(AT_FLAGS), getauxval(AT_EXECFD));
    printf("uid=%d euid=%d gid=%d egid=%d\n", (int)getuid(), (int)geteuid(),
           (int)getgid(), (int)getegid());
    printf("fds=");
    for (int fd = 3; fd < 256; fd++)
        if (fcntl(fd, F_GETFD) != -1) printf("%d ", fd);
    printf("\n");
    for (char **e = environ; *e; e++) printf("env %s\n", *e);
    return 0;
}
"#;

/// The probe compiled by `cc` with `args`, or `None` with a message.
fn probe(dir: &Path, cc: &str, args: &[&str], name: &str) -> Option<PathBuf> {
    let src = dir.join("probe.c");
    std::fs::write(&src, PROBE_C).unwrap();
    let out_file = dir.join(name);
    match Command::new(cc)
        .args(["-O1", "-Wall", "-o"])
        .arg(&out_file)
        .arg(&src)
        .args(args)
        .output()
    {
        Ok(o) if o.status.success() => Some(out_file),
        Ok(o) => panic!("{cc} failed:\n{}", String::from_utf8_lossy(&o.stderr)),
        Err(e) => {
            eprintln!("skipped: cannot run {cc} ({e}); apt-get install gcc-aarch64-linux-gnu");
            None
        }
    }
}

/// Splits `=== native` / `=== guest` output and checks the guest saw what
/// the native program saw, but for its machine name (and, unless
/// `proc_views`, /proc/self/cmdline and /proc/self/auxv). xarch keeps the environment in order;
/// qemu-user reverses it, so a stand-in's is compared sorted.
fn same_as_native(h: &Handler, out: &str, proc_views: bool) {
    let native_at = out.find("=== native\n").expect("no native section");
    let guest_at = out.find("=== guest\n").expect("no guest section");
    let sort_env = matches!(h, Handler::StandIn(_));
    let keep = |text: &str| {
        let mut kept = String::new();
        let mut env: Vec<&str> = Vec::new();
        let flush = |kept: &mut String, env: &mut Vec<&str>| {
            if sort_env {
                env.sort_unstable();
            }
            for l in env.drain(..) {
                kept.push_str(l);
                kept.push('\n');
            }
        };
        for l in text.lines() {
            if l.starts_with("env ") {
                env.push(l);
                continue;
            }
            flush(&mut kept, &mut env);
            if proc_views || !(l.starts_with("cmdline=") || l.starts_with("procauxv=")) {
                kept.push_str(l);
                kept.push('\n');
            }
        }
        flush(&mut kept, &mut env);
        kept
    };
    let native =
        keep(&out[native_at + 11..guest_at]).replace("machine=x86_64\n", "machine=aarch64\n");
    let guest = keep(&out[guest_at + 10..]);
    assert!(native.contains("machine=aarch64\n"), "{out}");
    let diff: Vec<String> = native
        .lines()
        .zip(guest.lines())
        .filter(|(n, g)| n != g)
        .map(|(n, g)| format!("  native: {n}\n  guest:  {g}"))
        .collect();
    assert!(
        diff.is_empty() && native.lines().count() == guest.lines().count(),
        "the guest saw something else than a native program:\n{}\n(native {} lines, guest {})",
        diff.join("\n"),
        native.lines().count(),
        guest.lines().count()
    );
}

/// Starts the probe at `$T/bin/probe` the ways a caller would, first the
/// x86_64 build then the arm64 one: with argv[0] set (P), by a relative
/// path, execute-only for another user (O), setuid root (C).
fn probe_runs(h: &Handler, proc_views: bool) {
    let dir = tempfile::tempdir().unwrap();
    let (Some(native), Some(guest)) = (
        probe(dir.path(), "gcc", &["-static"], "native"),
        probe(dir.path(), "aarch64-linux-gnu-gcc", &["-static"], "guest"),
    ) else {
        return;
    };
    let script = r#"P="$T/bin/probe"
runs() {
  bash -c 'exec -a custom-argv0 "$P" one "two words"'
  (cd "$T/bin" && ./probe relative)
  chmod 0711 "$P"; setpriv --reuid=1000 --regid=1000 --clear-groups "$P" exec-only
  chown 0:0 "$P"; chmod 4755 "$P"; setpriv --reuid=1000 --regid=1000 --clear-groups "$P" setuid
}
export P
cp "$NATIVE" "$P"; echo "=== native"; runs
rm "$P"; cp "$GUEST" "$P"; echo "=== guest"; runs"#;
    let Some(out) = e2e(
        h,
        "POCF",
        script,
        &[("NATIVE", native.into()), ("GUEST", guest.into())],
    ) else {
        return;
    };
    same_as_native(h, &out, proc_views);
    // The runs did what they were meant to.
    assert!(out.contains("argv[0]=custom-argv0\n"), "{out}");
    assert!(out.contains("execfn=./probe\n"), "{out}");
    assert!(out.contains("uid=1000 euid=0 "), "{out}");
    assert!(out.contains("secure=1 "), "{out}");
}

fn guest_cannot_tell(h: &Handler) {
    probe_runs(h, false);
}

/// /proc/self/cmdline is the guest's argv and /proc/self/auxv the guest's
/// auxiliary vector, not the handler's.
fn guest_proc_cmdline_auxv(h: &Handler) {
    probe_runs(h, true);
}

/// A dynamically linked arm64 program in an arm64 rootfs (Debian's
/// glibc): the kernel starts the static handler inside the chroot (F),
/// and the program's loader and libraries come from the chroot.
fn dynamic_program_in_chroot(h: &Handler) {
    let libc = match libc6_arm64() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("skipped: {e}");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let (Some(native), Some(guest)) = (
        probe(dir.path(), "gcc", &["-static"], "native"),
        probe(dir.path(), "aarch64-linux-gnu-gcc", &[], "guest"),
    ) else {
        return;
    };
    assert!(is_dynamic(&guest), "the arm64 probe must be dynamic");
    let script = r#"R="$T/rootfs"; mkdir -p "$R/proc"; cp -a "$LIBC6/." "$R/"
mount --rbind /proc "$R/proc"
runs() {
  chroot "$R" /probe one "two words"
  chroot "$R" ./probe relative
}
cp "$NATIVE" "$R/probe"; echo "=== native"; runs
rm "$R/probe"; cp "$GUEST" "$R/probe"; echo "=== guest"; runs"#;
    let Some(out) = e2e(
        h,
        "POCF",
        script,
        &[
            ("NATIVE", native.into()),
            ("GUEST", guest.into()),
            ("LIBC6", libc.into()),
        ],
    ) else {
        return;
    };
    same_as_native(h, &out, false);
    assert!(out.contains("exe=/probe\n"), "{out}");
}

macro_rules! e2e_tests {
    ($($(#[$attr:meta])* $name:ident),* $(,)?) => {
        mod stand_in {
            $(#[test] fn $name() { if let Some(h) = super::stand_in() { super::$name(&h) } })*
        }
        mod xarch {
            $(#[test] $(#[$attr])* fn $name() { super::$name(&super::Handler::Xarch(super::static_xarch())) })*
        }
    };
}

e2e_tests! {
    direct_exec,
    chroot_with_f_flag,
    // xarch re-enters itself for a foreign execve through /proc/self/exe;
    // without /proc it finds no path to itself and the exec fails with
    // ENOENT. The fix belongs in crates/linux (let the kernel's
    // binfmt_misc handler take such an execve).
    chroot_without_proc_nested_exec,
    preserved_argv0,
    unreadable_binary_with_o,
    setuid_with_c,
    uninstall_then_exec_fails,
    guest_cannot_tell,
    // The kernel's /proc/PID/cmdline and auxv are xarch's own (handler
    // path, program path, argv...; AT_FLAGS, AT_EXECFD); the guest's reads
    // of them are not redirected.
    guest_proc_cmdline_auxv,
    dynamic_program_in_chroot,
}
