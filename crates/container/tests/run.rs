//! Real containers, as root (or rootless through a user namespace), on a
//! native amd64 busybox root filesystem: behaviour compared with `podman run`.
//!
//! Each container runs in a fresh process (this test binary re-executed
//! with `XARCH_CT_JOB` set) because the runtime clones the calling process
//! and installs signal handlers: that must not happen inside the
//! multi-threaded test harness.

use serde::{Deserialize, Serialize};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use xarch_container::{Container, ImageDefaults, RunOptions, Stdio};

const BUSYBOX_VERSION: &str = "1:1.35.0-4+deb12u1+b1";

#[derive(Serialize, Deserialize)]
struct Job {
    rootfs: PathBuf,
    state: PathBuf,
    image: ImageDefaults,
    options: RunOptions,
    stdin: PathBuf,
    stdout: PathBuf,
    stderr: PathBuf,
    emulator: Option<PathBuf>,
}

/// The re-executed side: runs one container and exits with its status.
#[test]
fn child_entry() {
    let Ok(job) = std::env::var("XARCH_CT_JOB") else {
        return;
    };
    let job: Job = serde_json::from_str(&std::fs::read_to_string(job).unwrap()).unwrap();
    let open = |p: &Path, w: bool| -> std::os::fd::OwnedFd {
        std::fs::OpenOptions::new()
            .read(!w)
            .write(w)
            .open(p)
            .unwrap()
            .into()
    };
    let stdio = Stdio {
        stdin: open(&job.stdin, false),
        stdout: open(&job.stdout, true),
        stderr: open(&job.stderr, true),
    };
    let result = Container::new(
        &xarch_container::new_id(),
        &job.rootfs,
        &job.image,
        &job.options,
        &job.state,
        |k| std::env::var(k).ok(),
    )
    .and_then(|mut c| {
        // A static xarch on the host, reached through an inherited fd.
        let _keep = match job.emulator {
            Some(e) => {
                let (emulator, fd) = xarch_container::exec::Emulator::from_static_binary(&e)?;
                c.emulator = emulator;
                Some(fd)
            }
            None => None,
        };
        xarch_container::run(&c, stdio)
    });
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            std::fs::write(&job.stderr, format!("xarch: {e}\n")).unwrap();
            std::process::exit(i32::from(e.exit_status()));
        }
    }
}

fn cache_dir() -> PathBuf {
    std::env::var_os("XARCH_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.cache"))
}

/// Debian's static amd64 busybox, extracted once into the cache.
fn busybox() -> Option<&'static Path> {
    static BB: OnceLock<Option<PathBuf>> = OnceLock::new();
    BB.get_or_init(|| {
        let cache = cache_dir().join("busybox-static-amd64");
        let bin = cache.join("x/bin/busybox");
        if bin.exists() {
            return Some(bin);
        }
        std::fs::create_dir_all(&cache).ok()?;
        let deb = |d: &Path| {
            std::fs::read_dir(d)
                .ok()?
                .flatten()
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|e| e == "deb"))
        };
        if deb(&cache).is_none() {
            let ok = Command::new("apt-get")
                .args([
                    "download",
                    &format!("busybox-static:amd64={BUSYBOX_VERSION}"),
                ])
                .current_dir(&cache)
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                return None;
            }
        }
        let ok = Command::new("dpkg-deb")
            .arg("-x")
            .arg(deb(&cache)?)
            .arg(cache.join("x"))
            .status()
            .is_ok_and(|s| s.success());
        (ok && bin.exists()).then_some(bin)
    })
    .as_deref()
}

/// Namespaces usable here? (Containers, or a seccomp profile, may forbid them.)
fn namespaces_available() -> bool {
    Command::new("unshare")
        .args(["--mount", "--pid", "--uts", "--ipc", "--fork", "true"])
        .status()
        .is_ok_and(|s| s.success())
}

/// A fresh busybox root filesystem, or `None` (with a message) when the
/// test cannot run here.
fn rootfs() -> Option<tempfile::TempDir> {
    if !namespaces_available() {
        eprintln!("skipped: cannot create namespaces here");
        return None;
    }
    let Some(bb) = busybox() else {
        eprintln!(
            "skipped: busybox-static:amd64 {BUSYBOX_VERSION} not available (apt-get download failed)"
        );
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let root = dir.path().join("root");
    for d in ["bin", "etc", "tmp", "root", "home/alice"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::set_permissions(root.join("tmp"), std::fs::Permissions::from_mode(0o1777)).unwrap();
    std::fs::copy(bb, root.join("bin/busybox")).unwrap();
    let list = Command::new(bb).arg("--list").output().unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" {
            std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
        }
    }
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000:Alice:/home/alice:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(
        root.join("etc/group"),
        "root:x:0:\nalice:x:1000:\nstaff:x:50:alice\n",
    )
    .unwrap();
    Some(dir)
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn image() -> ImageDefaults {
    ImageDefaults {
        env: vec!["PATH=/bin".into(), "IMG=image".into()],
        ..Default::default()
    }
}

fn args(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Starts a container in a child process; `during` runs while it is alive
/// with the supervisor's pid.
fn run_full(
    dir: &tempfile::TempDir,
    image: ImageDefaults,
    options: RunOptions,
    input: &str,
    during: impl FnOnce(u32),
) -> Out {
    run_as(dir, image, options, input, during, None)
}

fn run_as(
    dir: &tempfile::TempDir,
    image: ImageDefaults,
    options: RunOptions,
    input: &str,
    during: impl FnOnce(u32),
    uid: Option<u32>,
) -> Out {
    let d = dir.path();
    let (stdin, stdout, stderr) = (d.join("in"), d.join("out"), d.join("err"));
    std::fs::write(&stdin, input).unwrap();
    std::fs::write(&stdout, "").unwrap();
    std::fs::write(&stderr, "").unwrap();
    for f in [&stdin, &stdout, &stderr] {
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o666)).unwrap();
    }
    let job = Job {
        rootfs: d.join("root"),
        state: d.join("state"),
        image,
        options,
        stdin,
        stdout: stdout.clone(),
        stderr: stderr.clone(),
        // Set by tests that need a foreign program's emulator.
        emulator: std::fs::read_to_string(d.join("emulator"))
            .ok()
            .map(PathBuf::from),
    };
    let job_file = d.join("job.json");
    std::fs::write(&job_file, serde_json::to_string(&job).unwrap()).unwrap();
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env("XARCH_CT_JOB", &job_file)
        .stdout(std::process::Stdio::null());
    if let Some(uid) = uid {
        use std::os::unix::process::CommandExt;
        cmd.uid(uid).gid(uid);
    }
    let mut child = cmd.spawn().unwrap();
    let id = child.id();
    if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| during(id))) {
        let _ = child.kill();
        let _ = child.wait();
        std::panic::resume_unwind(panic);
    }
    let status = child.wait().unwrap();
    Out {
        code: status.code().unwrap_or(-1),
        stdout: std::fs::read_to_string(&stdout).unwrap(),
        stderr: std::fs::read_to_string(&stderr).unwrap(),
    }
}

fn run(dir: &tempfile::TempDir, options: RunOptions) -> Out {
    run_full(dir, image(), options, "", |_| {})
}

fn sh(script: &str) -> RunOptions {
    RunOptions {
        command: args(&["sh", "-c", script]),
        ..Default::default()
    }
}

#[test]
fn output_and_exit_status() {
    let Some(dir) = rootfs() else { return };
    let o = run(&dir, sh("echo hello; echo oops >&2; exit 3"));
    assert_eq!((o.code, o.stdout.as_str()), (3, "hello\n"), "{}", o.stderr);
    assert_eq!(o.stderr, "oops\n");
}

#[test]
fn namespaces_and_filesystems() {
    let Some(dir) = rootfs() else { return };
    let o = run(
        &dir,
        RunOptions {
            hostname: Some("boxy".into()),
            network: xarch_container::Network::None,
            ..sh(
                "echo pid=$$; hostname; cat /etc/hostname; grep -c boxy /etc/hosts; \
                  ls /dev | tr '\\n' ' '; echo; touch /sys/x 2>/dev/null || echo sys-ro; \
                  grep -c : /proc/net/dev; ls /proc/1/exe >/dev/null && echo proc; \
                  echo data > /dev/null && head -c 4 /dev/zero | wc -c",
            )
        },
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines[0], "pid=1");
    assert_eq!(lines[1], "boxy");
    assert_eq!(lines[2], "boxy");
    assert_eq!(lines[3], "1");
    for dev in [
        "full", "null", "ptmx", "pts", "random", "shm", "tty", "urandom", "zero",
    ] {
        assert!(
            lines[4].split(' ').any(|d| d == dev),
            "/dev lacks {dev}: {}",
            lines[4]
        );
    }
    assert_eq!(lines[5], "sys-ro");
    assert_eq!(lines[6], "1", "only lo in a --network none namespace");
    assert_eq!(lines[7], "proc");
    assert_eq!(lines[8].trim(), "4");
}

#[test]
fn environment() {
    let Some(dir) = rootfs() else { return };
    let env_file = dir.path().join("envfile");
    std::fs::write(&env_file, "# c\nFILE=f\nBOTH=file\n").unwrap();
    let o = run(
        &dir,
        RunOptions {
            env: args(&["BOTH=flag", "SPACE=a b"]),
            env_files: vec![env_file],
            hostname: Some("h1".into()),
            ..sh("echo \"$IMG|$FILE|$BOTH|$SPACE|$HOME|$HOSTNAME|$PATH\"")
        },
    );
    assert_eq!(o.stdout, "image|f|flag|a b|/root|h1|/bin\n", "{}", o.stderr);
}

#[test]
fn volumes_rw_and_ro() {
    let Some(dir) = rootfs() else { return };
    let rw = dir.path().join("rw");
    let ro = dir.path().join("ro");
    std::fs::create_dir_all(&rw).unwrap();
    std::fs::create_dir_all(&ro).unwrap();
    std::fs::write(ro.join("in"), "from host\n").unwrap();
    let vol = |s: &Path, d: &str| format!("{}:{d}", s.display()).parse().unwrap();
    let o = run(
        &dir,
        RunOptions {
            volumes: vec![vol(&rw, "/data"), vol(&ro, "/in:ro")],
            ..sh("cat /in/in; echo made > /data/out; echo x > /in/new || echo ro-refused")
        },
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.stdout, "from host\nro-refused\n");
    assert_eq!(std::fs::read_to_string(rw.join("out")).unwrap(), "made\n");
    assert!(!ro.join("new").exists());
}

#[test]
fn workdir_and_user() {
    let Some(dir) = rootfs() else { return };
    let o = run(
        &dir,
        RunOptions {
            workdir: Some("/srv/new".into()),
            user: Some("alice".parse().unwrap()),
            ..sh("pwd; id -u; id -g; id -G; echo $HOME")
        },
    );
    assert_eq!(
        o.stdout, "/srv/new\n1000\n1000\n1000 50\n/home/alice\n",
        "{}",
        o.stderr
    );
    let o = run(
        &dir,
        RunOptions {
            user: Some("4242:77".parse().unwrap()),
            ..sh("id -u; id -g; pwd")
        },
    );
    assert_eq!(o.stdout, "4242\n77\n/\n", "{}", o.stderr);
    let o = run(
        &dir,
        RunOptions {
            user: Some("nobody".parse().unwrap()),
            ..sh("true")
        },
    );
    assert_eq!(o.code, 125);
    assert!(o.stderr.contains("nobody"), "{}", o.stderr);
}

#[test]
fn entrypoint_and_cmd_overrides() {
    let Some(dir) = rootfs() else { return };
    let img = ImageDefaults {
        entrypoint: args(&["echo", "ep"]),
        cmd: args(&["default"]),
        working_dir: "/tmp".into(),
        ..image()
    };
    let o = run_full(&dir, img.clone(), RunOptions::default(), "", |_| {});
    assert_eq!(o.stdout, "ep default\n", "{}", o.stderr);
    let o = run_full(
        &dir,
        img.clone(),
        RunOptions {
            command: args(&["x", "y"]),
            ..Default::default()
        },
        "",
        |_| {},
    );
    assert_eq!(o.stdout, "ep x y\n");
    let o = run_full(
        &dir,
        img.clone(),
        RunOptions {
            entrypoint: Some("pwd".into()),
            ..Default::default()
        },
        "",
        |_| {},
    );
    assert_eq!(o.stdout, "/tmp\n", "--entrypoint drops the image's Cmd");
}

#[test]
fn missing_and_non_executable_commands() {
    let Some(dir) = rootfs() else { return };
    let o = run(
        &dir,
        RunOptions {
            command: args(&["no-such-tool"]),
            ..Default::default()
        },
    );
    assert_eq!(o.code, 127, "{}", o.stderr);
    assert!(
        o.stderr
            .contains("executable file `no-such-tool` not found"),
        "{}",
        o.stderr
    );
    assert_eq!(o.stderr.matches("not found").count(), 1, "{}", o.stderr);
    std::fs::write(dir.path().join("root/bin/data"), "x").unwrap();
    let o = run(
        &dir,
        RunOptions {
            command: args(&["/bin/data"]),
            ..Default::default()
        },
    );
    assert_eq!(o.code, 126, "{}", o.stderr);
}

#[test]
fn stdin_only_with_interactive() {
    let Some(dir) = rootfs() else { return };
    let cat = |interactive| RunOptions {
        command: args(&["cat"]),
        interactive,
        ..Default::default()
    };
    let o = run_full(&dir, image(), cat(true), "piped\ninput\n", |_| {});
    assert_eq!(o.stdout, "piped\ninput\n", "{}", o.stderr);
    let o = run_full(&dir, image(), cat(false), "piped\n", |_| {});
    assert_eq!(o.stdout, "", "without -i stdin is /dev/null");
}

#[test]
fn tty() {
    let Some(dir) = rootfs() else { return };
    let o = run(
        &dir,
        RunOptions {
            tty: true,
            ..sh("tty; test -t 0 && test -t 1 && echo yes; echo $TERM")
        },
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.stdout, "/dev/pts/0\r\nyes\r\nxterm\r\n");
    let o = run(&dir, sh("test -t 0 || echo no-tty"));
    assert_eq!(o.stdout, "no-tty\n");
    // -i -t with piped input: the input reaches the program, EOF ends it.
    let o = run_full(
        &dir,
        image(),
        RunOptions {
            tty: true,
            interactive: true,
            command: args(&["sh", "-c", "read line; echo got:$line"]),
            ..Default::default()
        },
        "hello\n",
        |_| {},
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.ends_with("got:hello\r\n"), "{:?}", o.stdout);
}

/// The container's first process: the child of the supervisor.
fn container_pid(supervisor: u32) -> Option<i32> {
    for _ in 0..200 {
        // The clone happens on the harness's test thread: look at every task.
        let mut children = String::new();
        for task in std::fs::read_dir(format!("/proc/{supervisor}/task"))
            .ok()?
            .flatten()
        {
            children += &std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        }
        if let Some(pid) = children.split_whitespace().next() {
            let pid: i32 = pid.parse().ok()?;
            // Wait for the exec (the child is still xarch before it).
            let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
            if exe.ends_with("busybox") {
                return Some(pid);
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    None
}

#[test]
fn signals_forwarded_and_killed_status() {
    let Some(dir) = rootfs() else { return };
    // SIGTERM to xarch reaches the container, whose trap decides the status.
    let o = run_full(
        &dir,
        image(),
        sh("trap 'echo term; exit 42' TERM; echo ready; while true; do sleep 0.05; done"),
        "",
        |sup| {
            container_pid(sup).expect("container started");
            std::thread::sleep(std::time::Duration::from_millis(200));
            Command::new("kill")
                .args(["-TERM", &sup.to_string()])
                .status()
                .unwrap();
        },
    );
    assert_eq!(
        (o.code, o.stdout.as_str()),
        (42, "ready\nterm\n"),
        "{}",
        o.stderr
    );
    // A container killed by signal N exits 128+N, like podman.
    let o = run_full(&dir, image(), sh("exec sleep 30"), "", |sup| {
        let pid = container_pid(sup).expect("container started");
        Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .unwrap();
    });
    assert_eq!(o.code, 137, "{}", o.stderr);
}

#[test]
fn rootless_through_a_user_namespace() {
    let Some(dir) = rootfs() else { return };
    let nobody = 65534;
    let ok = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "unshare",
            "--user",
            "--map-root-user",
            "true",
        ])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("skipped: unprivileged user namespaces are not available here");
        return;
    }
    // An unprivileged user cannot create mount points in root's rootfs or
    // files in root's directory: prepare them, as an image unpacked by the
    // same user would have them.
    let d = dir.path();
    let root = d.join("root");
    for m in ["proc", "dev", "sys", "v"] {
        std::fs::create_dir_all(root.join(m)).unwrap();
    }
    for f in ["hosts", "resolv.conf", "hostname"] {
        std::fs::write(root.join("etc").join(f), "").unwrap();
    }
    let open = |p: &Path, mode| {
        std::fs::create_dir_all(p).unwrap();
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    open(&d.join("state"), 0o777);
    let vol = d.join("vol");
    open(&vol, 0o777);
    std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o777)).unwrap();
    let o = run_as(
        &dir,
        image(),
        RunOptions {
            hostname: Some("rl".into()),
            volumes: vec![format!("{}:/v:ro", vol.display()).parse().unwrap()],
            ..sh("id -u; echo $$; hostname; touch /v/x 2>/dev/null || echo ro")
        },
        "",
        |_| {},
        Some(nobody),
    );
    assert_eq!(
        (o.code, o.stdout.as_str()),
        (0, "0\n1\nrl\nro\n"),
        "{}",
        o.stderr
    );
}

/// A foreign (arm64) program runs with the emulator injected, no
/// binfmt_misc: a static xarch (`$XARCH_STATIC_BIN`; the xarch crate's
/// tests build one) opened on the host and executed through
/// /proc/self/fd/N after pivot_root, although it is not in the rootfs.
#[test]
fn arm64_busybox_through_the_emulator() {
    let Some(xarch) = std::env::var_os("XARCH_STATIC_BIN").map(PathBuf::from) else {
        eprintln!("skipped: set XARCH_STATIC_BIN to a static xarch");
        return;
    };
    let Some(dir) = rootfs() else { return };
    let cache = cache_dir().join("busybox-static-arm64");
    std::fs::create_dir_all(&cache).unwrap();
    let deb = |d: &Path| {
        std::fs::read_dir(d)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "deb"))
    };
    if deb(&cache).is_none() {
        let ok = Command::new("apt-get")
            .args([
                "download",
                &format!("busybox-static:arm64={BUSYBOX_VERSION}"),
            ])
            .current_dir(&cache)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("skipped: apt-get download busybox-static:arm64 failed");
            return;
        }
    }
    let x = dir.path().join("arm");
    assert!(
        Command::new("dpkg-deb")
            .arg("-x")
            .arg(deb(&cache).unwrap())
            .arg(&x)
            .status()
            .unwrap()
            .success()
    );
    // Replace the native busybox: every applet is now foreign.
    std::fs::copy(x.join("bin/busybox"), dir.path().join("root/bin/busybox")).unwrap();
    let opts = RunOptions {
        command: args(&["sh", "-c", "uname -m; echo $((6*7))"]),
        ..Default::default()
    };
    let o = run_with_emulator(&dir, opts, &xarch.to_string_lossy());
    assert_eq!(
        (o.code, o.stdout.as_str()),
        (0, "aarch64\n42\n"),
        "{}",
        o.stderr
    );
}

fn run_with_emulator(dir: &tempfile::TempDir, options: RunOptions, emulator: &str) -> Out {
    let d = dir.path();
    std::fs::write(d.join("emulator"), emulator).unwrap();
    run_full(dir, image(), options, "", |_| {})
}
