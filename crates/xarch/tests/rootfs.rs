//! `xarch run --rootfs DIR`: a small arm64 root file system built here
//! (the cross toolchain's glibc loader and libc plus the probe program,
//! dynamically linked) becomes the guest's root; /proc, /dev and the
//! working directory are checked, and an execve inside re-enters xarch.
//!
//! `--rootfs` needs a statically linked xarch: the test uses
//! `$XARCH_STATIC_BIN`, else `$XARCH_CACHE/rootfs/xarch` (made by
//! `scripts/rootfs-static-xarch.sh`), else the test binary when it is
//! static, and skips with a message otherwise. Needs root or user
//! namespaces (skips when neither).

#[path = "rootfs_progs/common.rs"]
mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn is_static(bin: &Path) -> bool {
    let Ok(data) = std::fs::read(bin) else {
        return false;
    };
    xarch_linux::loader::elf_interp(&data).is_none() && data.starts_with(b"\x7fELF")
}

fn static_xarch() -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = std::env::var_os("XARCH_STATIC_BIN")
        .map(PathBuf::from)
        .into_iter()
        .collect();
    candidates.push(cache_dir().join("../rootfs/xarch"));
    candidates.push(env!("CARGO_BIN_EXE_xarch").into());
    let found = candidates.into_iter().find(|c| is_static(c));
    if found.is_none() {
        eprintln!("skipping: no statically linked xarch; run scripts/rootfs-static-xarch.sh");
    }
    found
}

fn namespaces_available() -> bool {
    use std::os::unix::fs::MetadataExt;
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    let userns = std::fs::read_to_string("/proc/sys/user/max_user_namespaces")
        .is_ok_and(|s| s.trim() != "0");
    if !root && !userns {
        eprintln!("skipping: neither root nor user namespaces");
    }
    root || userns
}

/// A static xarch and a fresh [`mini_rootfs`], or `None` (having said
/// why) where the cross compiler, namespaces or a static xarch are missing.
fn xarch_and_rootfs() -> Option<(PathBuf, tempfile::TempDir)> {
    if !have_cross() || !namespaces_available() {
        return None;
    }
    let xarch = static_xarch()?;
    Some((xarch, mini_rootfs()))
}

/// DIR/lib/{ld-linux-aarch64.so.1, libc.so.6}, DIR/bin/probe (dynamic).
fn mini_rootfs() -> tempfile::TempDir {
    let probe = cc("probe-dynamic", &["-O1", "probe.c"]);
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    for d in ["lib", "bin", "etc", "work"] {
        std::fs::create_dir_all(r.join(d)).unwrap();
    }
    for lib in ["ld-linux-aarch64.so.1", "libc.so.6"] {
        std::fs::copy(
            Path::new(CROSS_SYSROOT).join("lib").join(lib),
            r.join("lib").join(lib),
        )
        .unwrap();
    }
    std::fs::copy(&probe, r.join("bin/probe")).unwrap();
    std::fs::write(r.join("etc/marker"), "inside the rootfs\n").unwrap();
    dir
}

#[test]
fn rootfs_basics() {
    let Some((xarch, root)) = xarch_and_rootfs() else {
        return;
    };
    let mut c = Command::new(&xarch);
    c.arg("run")
        .arg("--rootfs")
        .arg(root.path())
        .args(["--workdir", "/work", "--env", "GREETING=hi", "--"])
        .args([
            "/bin/probe",
            "read:/etc/marker",
            "cwd",
            "env:GREETING",
            "env:PATH",
            "uid",
            "null",
            "read:/proc/self/stat",
            "link:/proc/self/exe",
            "read:/dev/urandom",
            "exec:/bin/probe",
        ]);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "read:/etc/marker: inside the rootfs");
    assert_eq!(lines[1], "cwd: /work");
    assert_eq!(lines[2], "env:GREETING: hi");
    assert!(lines[3].starts_with("env:PATH: /usr/local/sbin:"), "{out}");
    assert_eq!(lines[4], "uid: 0");
    assert_eq!(lines[5], "null: 1 1 0");
    // The pid namespace: the first process is pid 1.
    assert!(lines[6].starts_with("read:/proc/self/stat: 1 ("), "{out}");
    assert_eq!(lines[7], "link:/proc/self/exe: /bin/probe");
    assert!(lines[8].starts_with("read:/dev/urandom: "), "{out}");
    // execve inside the root re-entered xarch and ran the dynamic program.
    assert_eq!(lines[9], "env:PROBE_DEPTH: 1", "{out}\n{err}");
    assert_eq!(lines.len(), 10, "{out}");
    // Nothing was left mounted on the host.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(root.path().to_str().unwrap()));
}

#[test]
fn rootfs_exit_status_and_missing_program() {
    let Some((xarch, root)) = xarch_and_rootfs() else {
        return;
    };
    let mut c = Command::new(&xarch);
    c.arg("run")
        .arg("--rootfs")
        .arg(root.path())
        .arg("/bin/no-such-program");
    let (code, _, err) = run(c);
    assert_eq!(code, 127, "{err}");
    assert!(err.contains("no-such-program"), "{err}");
}

/// The program is pid 1 of its namespace, where the kernel drops signals
/// left at their default action: `timeout`'s SIGTERM (forwarded by the
/// supervisor) must still end it, as it ends `chroot DIR sleep`.
#[test]
fn rootfs_program_dies_of_a_forwarded_sigterm() {
    let Some((xarch, root)) = xarch_and_rootfs() else {
        return;
    };
    let mut child = Command::new(&xarch)
        .arg("run")
        .arg("--rootfs")
        .arg(root.path())
        .args(["/bin/probe", "sleep:60"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert_eq!(line, "sleeping\n");
    let started = std::time::Instant::now();
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > std::time::Duration::from_secs(30) {
            let _ = child.kill();
            panic!("SIGTERM did not end the program");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(128 + 15), "SIGTERM is 15");
}

#[test]
fn a_symlinked_proc_is_a_clear_error() {
    let Some(xarch) = static_xarch() else { return };
    let root = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("/proc", root.path().join("proc")).unwrap();
    let mut c = Command::new(&xarch);
    c.arg("run")
        .arg("--rootfs")
        .arg(root.path())
        .arg("/bin/true");
    let (code, _, err) = run(c);
    assert_eq!(code, 125, "{err}");
    assert!(
        err.contains("proc is a symbolic link") && err.lines().count() == 1,
        "{err}"
    );
}

#[test]
fn dynamic_xarch_explains_that_rootfs_needs_a_static_one() {
    let bin = Path::new(env!("CARGO_BIN_EXE_xarch"));
    if is_static(bin) {
        eprintln!("skipping: this xarch is static");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut c = xarch();
    c.arg("run").arg("--rootfs").arg(dir.path()).arg("/bin/sh");
    let (code, _, err) = run(c);
    assert_ne!(code, 0);
    assert!(
        err.contains("statically linked") && err.contains("crt-static"),
        "{err}"
    );
}

/// As an unprivileged user the container gets a user namespace mapping
/// the caller to root (checked from root by dropping to nobody).
#[test]
fn rootfs_rootless() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    if !have_cross() || !namespaces_available() {
        return;
    }
    if !std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
        || Command::new("setpriv").arg("--version").output().is_err()
    {
        eprintln!("skipping: needs root and setpriv to drop to an unprivileged user");
        return;
    }
    let Some(xarch) = static_xarch() else { return };
    let root = mini_rootfs();
    let bin = root.path().join("xarch");
    std::fs::copy(&xarch, &bin).unwrap();
    let st = Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(root.path())
        .status();
    assert!(st.is_ok_and(|s| s.success()));
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut c = Command::new("setpriv");
    c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .env("XARCH_STATE", root.path().join("state"))
        .arg(&bin)
        .arg("run")
        .arg("--rootfs")
        .arg(root.path())
        .args(["/bin/probe", "uid", "exec:/bin/probe"]);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "uid: 0\nenv:PROBE_DEPTH: 1\n", "{err}");
}

/// With a terminal as standard input, the program keeps it as its
/// controlling terminal and is the foreground group, so job control works
/// as for a program a shell starts (`bash -i` inside the root). Runs
/// tests/guest/jobctl.c's "tty" mode under `script` both natively and
/// under `xarch run --rootfs`; the outputs must match.
#[test]
fn rootfs_program_keeps_the_callers_terminal() {
    if !namespaces_available() || !have_script() {
        return;
    }
    let Some(xarch) = static_xarch() else { return };
    let guest = cache_dir().join("../guest");
    let (arm, native) = (
        guest.join("aarch64-O2/jobctl"),
        guest.join("x86_64-O2/jobctl"),
    );
    if !arm.exists() || !native.exists() {
        eprintln!("skipping: guest fixtures missing: run tests/guest/build.sh");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("bin")).unwrap();
    std::fs::copy(&arm, root.path().join("bin/jobctl")).unwrap();
    let want = in_script(format!("{} tty", native.display()));
    assert!(want.ends_with("failures: 0\n"), "native run: {want}");
    let got = in_script(format!(
        "{} run --rootfs {} /bin/jobctl tty",
        xarch.display(),
        root.path().display()
    ));
    assert_eq!(got, want);
}

fn have_script() -> bool {
    let ok = Command::new("script").arg("--version").output().is_ok();
    if !ok {
        eprintln!("skipping: script (util-linux) is not installed");
    }
    ok
}

/// Runs the shell command `cmd` on a new pty (`script`), returns its output.
fn in_script(cmd: String) -> String {
    let out = Command::new("script")
        .args(["-qfc", &cmd, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("running script");
    String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n")
}

/// A root holding Debian's arm64 busybox-static with `applets` linked to it.
fn busybox_root(applets: &[&str]) -> Option<tempfile::TempDir> {
    let bb = cache_dir().join("../busybox/arm64/busybox");
    if !bb.exists() {
        eprintln!(
            "skipping: {} missing: run scripts/fixtures.sh",
            bb.display()
        );
        return None;
    }
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("bin")).unwrap();
    std::fs::copy(&bb, root.path().join("bin/busybox")).unwrap();
    for a in applets {
        std::os::unix::fs::symlink("busybox", root.path().join("bin").join(a)).unwrap();
    }
    Some(root)
}

/// `tty` in the root names the caller's terminal as it does outside: the
/// path the kernel reports for standard input (/dev/pts/N) is that device
/// inside too, and /dev/console is the terminal.
#[test]
fn rootfs_tty_names_the_callers_terminal() {
    if !namespaces_available() || !have_script() {
        return;
    }
    let Some(xarch) = static_xarch() else { return };
    let Some(root) = busybox_root(&["sh", "tty"]) else {
        return;
    };
    let out = in_script(format!(
        "tty; {} run --rootfs {} /bin/sh -c 'tty; tty </dev/console'",
        xarch.display(),
        root.path().display()
    ));
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("/dev/pts/"), "{out}");
    assert_eq!(lines[1..], [lines[0], "/dev/console"], "{out}");
}

/// An interactive `bash` on a new pty (`script`), fed through a pipe.
struct Shell {
    child: std::process::Child,
    out: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Shell {
    fn start() -> Option<Shell> {
        use std::io::Read;
        if Command::new("bash").arg("--version").output().is_err() {
            eprintln!("skipping: bash is not installed");
            return None;
        }
        let mut child = Command::new("script")
            .args(["-qfc", "bash --norc --noprofile -i", "/dev/null"])
            .env("PS1", "$ ")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let out = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (mut stdout, sink) = (child.stdout.take().unwrap(), out.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = stdout.read(&mut buf) {
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Some(Shell { child, out })
    }

    fn send(&mut self, text: &str) {
        use std::io::Write;
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(text.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    /// Waits until the output holds `want` (`also` is sent each second
    /// meanwhile); panics with the output after `secs`.
    fn expect(&mut self, want: &str, also: &str, secs: u64) {
        let start = std::time::Instant::now();
        while !self.out.lock().unwrap().contains(want) {
            if start.elapsed().as_secs() >= secs {
                let out = self.out.lock().unwrap().clone();
                let _ = self.child.kill();
                panic!("no {want:?} after {secs} s in:\n{out}");
            }
            std::thread::sleep(std::time::Duration::from_secs(1));
            if !also.is_empty() {
                self.send(also);
            }
        }
    }
}

impl Drop for Shell {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Job control reaches the program, the init of its pid namespace (which
/// the kernel never stops from inside): Ctrl-Z stops it and `fg` resumes
/// it, and a background read of the terminal stops the job "(tty input)"
/// until `fg`, as in an interactive shell natively.
#[test]
fn rootfs_job_stops_on_ctrl_z_and_resumes_with_fg() {
    if !namespaces_available() || !have_script() {
        return;
    }
    let Some(xarch) = static_xarch() else { return };
    let Some(root) = busybox_root(&["sh", "sleep"]) else {
        return;
    };
    let Some(mut sh) = Shell::start() else { return };
    let run = format!("{} run --rootfs {}", xarch.display(), root.path().display());
    // The quotes keep the echoed command line from matching.
    sh.send(&format!(
        "{run} /bin/sh -c 'echo sta''rted; sleep 1; echo fini''shed'\n"
    ));
    sh.expect("started", "", 60);
    sh.send("\x1a");
    sh.expect("Stopped", "", 20);
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert!(!sh.out.lock().unwrap().contains("finished"), "did not stop");
    sh.send("fg\n");
    sh.expect("finished", "", 30);
    sh.send(&format!("{run} /bin/sh -c 'read x; echo got$x' &\n"));
    sh.expect("Stopped (tty input)", "jobs -l\n", 60);
    sh.send("fg\n");
    sh.send("line\n");
    sh.expect("gotline", "", 30);
    sh.send("exit\n");
}

/// xarch's code cache never lands in the guest's root by default (a
/// bootstrapped distribution or an image built under xarch would carry
/// it); named explicitly, it is used there.
#[test]
fn rootfs_keeps_no_code_cache_in_the_guests_files() {
    let Some((xarch, root)) = xarch_and_rootfs() else {
        return;
    };
    let probe = |env: &[&str]| {
        let mut c = Command::new(&xarch);
        c.arg("run").arg("--rootfs").arg(root.path());
        for e in env {
            c.args(["--env", e]);
        }
        c.args(["--", "/bin/probe", "cwd", "exec:/bin/probe"]);
        let (code, out, err) = run(c);
        assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    };
    probe(&["HOME=/work", "XDG_CACHE_HOME=/work/xdg"]);
    assert!(!root.path().join("work/.cache").exists());
    assert!(!root.path().join("work/xdg").exists());
    probe(&["XARCH_CODE_CACHE=/work/cc"]);
    let stored = std::fs::read_dir(root.path().join("work/cc"))
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "xcc"))
                .count()
        })
        .unwrap_or(0);
    assert!(stored > 0, "XARCH_CODE_CACHE named in the root is used");
}
