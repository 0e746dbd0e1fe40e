//! `xarch container run IMAGE` end to end, as root, against a real registry
//! (Debian's docker-registry on 127.0.0.1) holding images built from
//! Debian packages and pushed with skopeo:
//!
//! * `test/busybox:multi`: a multi-arch index (arm64 + amd64), each image
//!   two layers (busybox-static, then applet links, /etc/passwd and a
//!   whiteout of the lower layer's /etc/gone), with Env, Cmd and
//!   WorkingDir in its configuration.
//! * `test/debian:bookworm` (arm64): a small Debian root made of the
//!   data of a handful of arm64 .debs (libc6, coreutils and its
//!   libraries, busybox-static, base-files), one layer per package.
//!
//! Foreign (arm64) containers need a static xarch: `$XARCH_STATIC_BIN`, or
//! one built here once with
//! `RUSTFLAGS=-Ctarget-feature=+crt-static cargo build --target x86_64-unknown-linux-gnu -p xarch`.
//! Expected results are what `podman run` gives for the same commands
//! (podman itself cannot start containers in the sandbox these tests were
//! written in: runc is refused raising rlimits, so they are written out).

#[path = "../../oci/tests/common/mod.rs"]
mod common;

use common::{Item, Layout, TestRegistry, busybox, busybox_layer, layer_tar};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

fn xarch_bin() -> &'static str {
    env!("CARGO_BIN_EXE_xarch")
}

/// Root, and able to create namespaces? Otherwise say why and skip.
fn can_run() -> bool {
    // SAFETY-free check: /proc/self/status has the effective uid.
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("1");
    if euid != "0" {
        eprintln!("SKIP: needs root (overlay, namespaces)");
        return false;
    }
    let ok = Command::new("unshare")
        .args(["--mount", "--pid", "--fork", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("SKIP: cannot create namespaces here");
    }
    ok
}

/// A statically linked xarch: `$XARCH_STATIC_BIN`, else built once.
fn static_xarch() -> Option<&'static Path> {
    static BIN: OnceLock<Option<PathBuf>> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("XARCH_STATIC_BIN") {
            return Some(PathBuf::from(p));
        }
        let target_dir = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
        let triple = "x86_64-unknown-linux-gnu";
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "--target", triple, "-p", "xarch"])
            .env("RUSTFLAGS", "-C target-feature=+crt-static")
            .env("CARGO_TARGET_DIR", &target_dir)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status();
        let bin = target_dir.join(triple).join("debug/xarch");
        if !status.is_ok_and(|s| s.success()) || !bin.exists() {
            eprintln!("SKIP: could not build a static xarch (set XARCH_STATIC_BIN)");
            return None;
        }
        Some(bin)
    })
    .as_deref()
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// A test's registry, image store and scratch space.
struct Env {
    reg: TestRegistry,
    store: tempfile::TempDir,
    work: tempfile::TempDir,
}

impl Env {
    fn image(&self, repo_tag: &str) -> String {
        format!("{}/{repo_tag}", self.reg.addr())
    }

    /// Runs xarch (`bin`) with the store, feeding `stdin`.
    fn xarch_with(&self, bin: &Path, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Out {
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .env("XARCH_ROOT", self.store.path())
            .env_remove("XARCH_STATIC_BIN")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start xarch");
        let mut input = child.stdin.take().unwrap();
        let data = stdin.as_bytes().to_vec();
        let writer = std::thread::spawn(move || {
            let _ = input.write_all(&data);
        });
        let o = child.wait_with_output().unwrap();
        writer.join().unwrap();
        Out {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// `xarch container run --tls-verify=false ARGS...` with the build's
    /// (dynamic) xarch; `static_bin` makes foreign images work.
    fn run(&self, args: &[&str], stdin: &str, static_bin: Option<&Path>) -> Out {
        let s = static_bin.map(|p| p.to_string_lossy().into_owned());
        let env: Vec<(&str, &str)> = s
            .as_deref()
            .map(|p| vec![("XARCH_STATIC_BIN", p)])
            .unwrap_or_default();
        self.run_env(args, stdin, &env)
    }

    fn run_env(&self, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Out {
        let mut all = vec!["container", "run", "--tls-verify=false"];
        all.extend_from_slice(args);
        self.xarch_with(Path::new(xarch_bin()), &all, stdin, env)
    }
}

fn setup() -> Option<Env> {
    if !can_run() {
        return None;
    }
    let reg = TestRegistry::start()?;
    Some(Env {
        reg,
        store: tempfile::tempdir().unwrap(),
        work: tempfile::tempdir().unwrap(),
    })
}

const APPLETS: [&str; 14] = [
    "uname", "ls", "cat", "id", "pwd", "env", "echo", "tty", "touch", "mkdir", "test", "sleep",
    "hostname", "true",
];

/// The second layer: applet links, users, a new file, and a whiteout
/// hiding the first layer's /etc/gone.
fn upper_layer() -> Vec<u8> {
    let links: Vec<String> = APPLETS.iter().map(|a| format!("bin/{a}")).collect();
    let mut items: Vec<Item> = links
        .iter()
        .map(|l| Item::Symlink(l.as_str(), "busybox"))
        .collect();
    items.extend([
        Item::Dir("etc/"),
        Item::File("etc/.wh.gone", b"", 0o644),
        Item::File(
            "etc/passwd",
            b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n",
            0o644,
        ),
        Item::File("etc/group", b"root:x:0:\nnogroup:x:65534:\n", 0o644),
        Item::File("etc/upper", b"from the upper layer\n", 0o644),
    ]);
    layer_tar(&items)
}

/// Pushes `test/busybox:multi` (arm64 + amd64). None when the packages
/// cannot be fetched.
fn push_busybox(env: &Env) -> Option<()> {
    let mut l = Layout::new(&env.work.path().join("bb-layout"));
    let config = serde_json::json!({
        "Env": ["PATH=/bin", "FROM_IMAGE=yes"],
        "Cmd": ["sh", "-c", "echo default-cmd in $(pwd)"],
        "WorkingDir": "/srv",
    });
    let mut built = Vec::new();
    for arch in ["arm64", "amd64"] {
        let bb = busybox(arch)?;
        built.push(l.image_with(
            arch,
            &[(busybox_layer(&bb), "gzip"), (upper_layer(), "gzip")],
            config.clone(),
        ));
    }
    l.tag_index(&[&built[0], &built[1]], "multi");
    env.reg.push(&l.dir, "multi", "test/busybox:multi");
    Some(())
}

#[test]
fn uname_by_platform_and_default_command() {
    let Some(env) = setup() else { return };
    if push_busybox(&env).is_none() {
        return;
    }
    let img = env.image("test/busybox:multi");
    let Some(st) = static_xarch() else { return };

    let o = env.run(
        &["--rm", "--platform", "linux/amd64", &img, "uname", "-m"],
        "",
        None,
    );
    assert_eq!((o.code, o.stdout.as_str()), (0, "x86_64\n"), "{}", o.stderr);
    let o = env.run(
        &["--rm", "--platform", "linux/arm64", &img, "uname", "-m"],
        "",
        Some(st),
    );
    assert_eq!(
        (o.code, o.stdout.as_str()),
        (0, "aarch64\n"),
        "{}",
        o.stderr
    );

    // The image's Cmd and WorkingDir, on both platforms.
    for (p, bin) in [("linux/amd64", None), ("linux/arm64", Some(st))] {
        let o = env.run(&["--platform", p, &img], "", bin);
        assert_eq!(
            (o.code, o.stdout.as_str()),
            (0, "default-cmd in /srv\n"),
            "{p}: {}",
            o.stderr
        );
    }

    // Both platforms were pulled into the store once, and nothing is left
    // of the containers (none was named).
    let o = env.xarch_with(Path::new(xarch_bin()), &["images"], "", &[]);
    assert_eq!(
        o.stdout.matches("test/busybox:multi").count(),
        2,
        "{}",
        o.stdout
    );
    let o = env.xarch_with(Path::new(xarch_bin()), &["container", "ls", "-q"], "", &[]);
    assert_eq!((o.code, o.stdout.as_str()), (0, ""), "{}", o.stderr);
}

#[test]
fn foreign_image_needs_a_static_xarch() {
    let Some(env) = setup() else { return };
    if push_busybox(&env).is_none() {
        return;
    }
    let img = env.image("test/busybox:multi");
    // The test build of xarch is dynamically linked.
    let o = env.run(&["--platform", "linux/arm64", &img, "true"], "", None);
    assert_eq!(o.code, 125, "{}", o.stderr);
    assert!(o.stderr.contains("statically linked"), "{}", o.stderr);
    assert!(o.stderr.contains("XARCH_STATIC_BIN"), "{}", o.stderr);
    assert_eq!(o.stderr.lines().count(), 1, "{}", o.stderr);
    // A dynamic binary as XARCH_STATIC_BIN is refused too.
    let o = env.run(
        &["--platform", "linux/arm64", &img, "true"],
        "",
        Some(Path::new(xarch_bin())),
    );
    assert_eq!(o.code, 125, "{}", o.stderr);
    assert!(o.stderr.contains("dynamically linked"), "{}", o.stderr);
}

/// Options on the native image, and the main ones again through the emulator.
#[test]
fn run_options_like_podman() {
    let Some(env) = setup() else { return };
    if push_busybox(&env).is_none() {
        return;
    }
    let img = env.image("test/busybox:multi");
    let Some(st) = static_xarch() else { return };
    for (platform, bin) in [("linux/amd64", None), ("linux/arm64", Some(st))] {
        let run = |args: &[&str], stdin: &str| {
            let mut all = vec!["--rm", "--platform", platform, "--hostname", "box"];
            all.extend_from_slice(args);
            let o = env.run(&all, stdin, bin);
            (o.code, o.stdout, o.stderr)
        };
        let ctx = |what: &str, err: &str| format!("{platform} {what}: {err}");

        // Environment: image Env, -e (set, override, copy), --env-file, HOSTNAME.
        let envfile = env.work.path().join("env.list");
        std::fs::write(&envfile, "# comment\nFROM_FILE=f1\n\nSPACED=a b\n").unwrap();
        let (code, out, err) = run(
            &[
                "-e",
                "A=1",
                "-e",
                "FROM_IMAGE=over",
                "--env-file",
                envfile.to_str().unwrap(),
                &img,
                "sh",
                "-c",
                "echo $A $FROM_IMAGE $FROM_FILE \"$SPACED\" $HOSTNAME $PATH",
            ],
            "",
        );
        assert_eq!(
            (code, out.as_str()),
            (0, "1 over f1 a b box /bin\n"),
            "{}",
            ctx("env", &err)
        );

        // Volumes: rw writes reach the host, ro refuses writes.
        let rw = env
            .work
            .path()
            .join(format!("rw-{}", platform.replace('/', "-")));
        let ro = env.work.path().join("ro");
        std::fs::create_dir_all(&rw).unwrap();
        std::fs::create_dir_all(&ro).unwrap();
        std::fs::write(ro.join("in"), "host file\n").unwrap();
        let rw_arg = format!("{}:/data", rw.display());
        let ro_arg = format!("{}:/ro:ro", ro.display());
        let (code, out, err) = run(
            &[
                "-v",
                &rw_arg,
                "-v",
                &ro_arg,
                &img,
                "sh",
                "-c",
                "cat /ro/in; echo written > /data/out; touch /ro/x 2>/dev/null || echo ro-refused",
            ],
            "",
        );
        assert_eq!(
            (code, out.as_str()),
            (0, "host file\nro-refused\n"),
            "{}",
            ctx("volumes", &err)
        );
        assert_eq!(
            std::fs::read_to_string(rw.join("out")).unwrap(),
            "written\n"
        );
        assert!(!ro.join("x").exists());

        // Workdir (created when missing) and user (numeric, and by name).
        let (code, out, err) = run(
            &[
                "-w",
                "/made/here",
                "-u",
                "1000:1001",
                &img,
                "sh",
                "-c",
                "pwd; id -u; id -g",
            ],
            "",
        );
        assert_eq!(
            (code, out.as_str()),
            (0, "/made/here\n1000\n1001\n"),
            "{}",
            ctx("workdir/user", &err)
        );
        let (code, out, err) = run(&["-u", "nobody", &img, "id", "-u"], "");
        assert_eq!(
            (code, out.as_str()),
            (0, "65534\n"),
            "{}",
            ctx("user", &err)
        );

        // Entrypoint overrides: the image's Cmd is dropped, CMD args follow.
        let (code, out, err) = run(&["--entrypoint", "echo", &img, "a", "b"], "");
        assert_eq!(
            (code, out.as_str()),
            (0, "a b\n"),
            "{}",
            ctx("entrypoint", &err)
        );
        let (code, out, err) = run(
            &[
                "--entrypoint",
                r#"["sh","-c"]"#,
                &img,
                "echo $0-$1",
                "x",
                "y",
            ],
            "",
        );
        assert_eq!(
            (code, out.as_str()),
            (0, "x-y\n"),
            "{}",
            ctx("entrypoint json", &err)
        );

        // Exit statuses: the command's, 127 not found, 126 not executable.
        let (code, _, err) = run(&[&img, "sh", "-c", "exit 7"], "");
        assert_eq!(code, 7, "{}", ctx("exit", &err));
        let (code, _, err) = run(&[&img, "no-such-command"], "");
        assert_eq!(code, 127, "{}", ctx("not found", &err));
        assert!(err.contains("no-such-command"), "{err}");
        let (code, _, err) = run(&[&img, "/etc/hello"], "");
        assert_eq!(code, 126, "{}", ctx("not executable", &err));

        // stdin only with -i.
        let (code, out, err) = run(&["-i", &img, "cat"], "piped\ninput\n");
        assert_eq!(
            (code, out.as_str()),
            (0, "piped\ninput\n"),
            "{}",
            ctx("stdin", &err)
        );
        let (_, out, _) = run(&[&img, "cat"], "piped\n");
        assert_eq!(out, "", "{platform}: without -i stdin is /dev/null");

        // -t: a pty (output with CRLF), none without it.
        let (code, out, err) = run(&["-t", &img, "sh", "-c", "tty; test -t 1 && echo yes"], "");
        assert_eq!(
            (code, out.as_str()),
            (0, "/dev/pts/0\r\nyes\r\n"),
            "{}",
            ctx("tty", &err)
        );
        let (code, out, _) = run(&[&img, "sh", "-c", "test -t 1 || echo no-tty"], "");
        assert_eq!((code, out.as_str()), (0, "no-tty\n"), "{platform}");

        // The whiteout in the upper layer hides the lower file.
        let (code, out, err) = run(&[&img, "sh", "-c", "ls /etc; cat /etc/gone"], "");
        assert_eq!(code, 1, "{}", ctx("whiteout", &err));
        assert!(out.contains("hello\n") && out.contains("upper\n"), "{out}");
        assert!(!out.contains("gone"), "{out}");
        assert!(err.contains("/etc/gone"), "{err}");
    }
}

/// The image's Entrypoint, Cmd and User, and how podman combines them
/// with the command line.
#[test]
fn image_entrypoint_cmd_and_user_honoured() {
    let Some(env) = setup() else { return };
    let Some(bb) = busybox("amd64") else { return };
    let mut l = Layout::new(&env.work.path().join("ep-layout"));
    let b = l.image_with(
        "amd64",
        &[(busybox_layer(&bb), "gzip"), (upper_layer(), "gzip")],
        serde_json::json!({
            "Env": ["PATH=/bin"],
            "Entrypoint": ["sh", "-c", "echo \"$0 $* as $(id -u)\""],
            "Cmd": ["default"],
            "User": "nobody",
        }),
    );
    l.tag_image(&b, "ep");
    env.reg.push(&l.dir, "ep", "test/ep:latest");
    let img = env.image("test/ep");
    let o = env.run(&["--rm", &img], "", None);
    assert_eq!(
        (o.code, o.stdout.as_str()),
        (0, "default  as 65534\n"),
        "{}",
        o.stderr
    );
    // CMD arguments replace Cmd, not Entrypoint.
    let o = env.run(&["--rm", &img, "x", "y"], "", None);
    assert_eq!(
        (o.code, o.stdout.as_str()),
        (0, "x y as 65534\n"),
        "{}",
        o.stderr
    );
    // -u overrides the image's user; --entrypoint drops the image's Cmd.
    let o = env.run(
        &["--rm", "-u", "0", "--entrypoint", "id", &img, "-u"],
        "",
        None,
    );
    assert_eq!((o.code, o.stdout.as_str()), (0, "0\n"), "{}", o.stderr);
    // Stored after the first run: --pull=never finds it, an unknown image does not.
    let o = env.run(&["--rm", "--pull=never", &img, "z"], "", None);
    assert_eq!(o.stdout, "z  as 65534\n", "{}", o.stderr);
    let o = env.run(
        &["--rm", "--pull=never", &env.image("test/absent"), "z"],
        "",
        None,
    );
    assert_eq!(o.code, 125);
    assert_eq!(o.stderr.lines().count(), 1, "{}", o.stderr);
}

/// Each container writes to its own copy-on-write view: the image's
/// cached root and later containers do not see the changes; a named
/// container keeps its changes and is listed until `rm`.
#[test]
fn copy_on_write_views_and_named_containers() {
    let Some(env) = setup() else { return };
    if push_busybox(&env).is_none() {
        return;
    }
    let img = env.image("test/busybox:multi");
    let amd = ["--platform", "linux/amd64"];
    let run = |extra: &[&str], cmd: &[&str]| {
        let mut all: Vec<&str> = amd.to_vec();
        all.extend_from_slice(extra);
        all.push(&img);
        all.extend_from_slice(cmd);
        env.run(&all, "", None)
    };
    let o = run(
        &[],
        &[
            "sh",
            "-c",
            "echo changed > /etc/hello; rm /bin/uname; cat /etc/hello",
        ],
    );
    assert_eq!(
        (o.code, o.stdout.as_str()),
        (0, "changed\n"),
        "{}",
        o.stderr
    );
    let o = run(&[], &["sh", "-c", "cat /etc/hello; ls /bin/uname"]);
    assert_eq!(
        (o.code, o.stdout.as_str()),
        (0, "lower\n/bin/uname\n"),
        "{}",
        o.stderr
    );
    let rootfs = env.store.path().join("rootfs");
    for e in std::fs::read_dir(&rootfs).unwrap().flatten() {
        if e.path().is_dir() {
            assert_eq!(
                std::fs::read_to_string(e.path().join("etc/hello")).unwrap(),
                "lower\n"
            );
        }
    }
    // The same with a copy instead of an overlay.
    let mut all: Vec<&str> = amd.to_vec();
    all.extend([
        img.as_str(),
        "sh",
        "-c",
        "echo copied > /etc/hello; cat /etc/hello",
    ]);
    let o = env.run_env(&all, "", &[("XARCH_VIEW", "copy")]);
    assert_eq!((o.code, o.stdout.as_str()), (0, "copied\n"), "{}", o.stderr);
    let o = run(&[], &["cat", "/etc/hello"]);
    assert_eq!(o.stdout, "lower\n", "{}", o.stderr);
    // No overlay stays mounted on the host.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(&env.store.path().display().to_string()),
        "{mounts}"
    );

    // Named: kept with its exit status and changes; the name is taken.
    let o = run(
        &["--name", "keep1"],
        &["sh", "-c", "echo data > /f; exit 4"],
    );
    assert_eq!(o.code, 4, "{}", o.stderr);
    let ls = env.xarch_with(Path::new(xarch_bin()), &["container", "ls"], "", &[]);
    assert_eq!(ls.code, 0, "{}", ls.stderr);
    let line = ls
        .stdout
        .lines()
        .find(|l| l.ends_with(" keep1"))
        .unwrap_or_else(|| {
            panic!("keep1 not listed: {}", ls.stdout);
        });
    assert!(line.contains("Exited (4)"), "{line}");
    assert!(line.contains("linux/amd64"), "{line}");
    let id = line.split_whitespace().next().unwrap();
    let dir = std::fs::read_dir(env.store.path().join("containers"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(id))
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.join("upper/f")).unwrap(),
        "data\n"
    );
    let o = run(&["--name", "keep1"], &["true"]);
    assert_eq!(o.code, 125);
    assert!(o.stderr.contains("already in use"), "{}", o.stderr);
    // --rm with a name: gone afterwards; unnamed ones too.
    let o = run(&["--rm", "--name", "gone1"], &["true"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let ls = env.xarch_with(Path::new(xarch_bin()), &["container", "ls", "-q"], "", &[]);
    assert_eq!(ls.stdout, format!("{id}\n"));

    let rm = env.xarch_with(
        Path::new(xarch_bin()),
        &["container", "rm", "keep1"],
        "",
        &[],
    );
    assert_eq!(rm.code, 0, "{}", rm.stderr);
    assert!(!dir.exists());
    let rm = env.xarch_with(
        Path::new(xarch_bin()),
        &["container", "rm", "keep1"],
        "",
        &[],
    );
    assert_eq!(rm.code, 1);
    assert!(rm.stderr.contains("no container"), "{}", rm.stderr);
    // The name is free again.
    let o = run(&["--rm", "--name", "keep1"], &["true"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
}

/// Rootless: an unprivileged user pulls into its own store and runs the
/// container in a user namespace, on an overlay mounted inside it (where
/// the kernel allows that; else on a copy, which is reported).
#[test]
fn rootless_on_an_overlay_in_a_user_namespace() {
    let Some(env) = setup() else { return };
    let userns = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .args(["unshare", "--user", "--map-root-user", "true"])
        .status()
        .is_ok_and(|s| s.success());
    let exe_ok = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            xarch_bin(),
            "--version",
        ])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !userns || !exe_ok {
        eprintln!(
            "SKIP: no unprivileged user namespaces, or nobody cannot run {}",
            xarch_bin()
        );
        return;
    }
    if push_busybox(&env).is_none() {
        return;
    }
    let img = env.image("test/busybox:multi");
    let store = tempfile::tempdir().unwrap();
    std::os::unix::fs::chown(store.path(), Some(65534), Some(65534)).unwrap();
    let o = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            xarch_bin(),
        ])
        .args([
            "container",
            "run",
            "--rm",
            "--tls-verify=false",
            "--platform",
            "linux/amd64",
        ])
        .args([
            &img,
            "sh",
            "-c",
            "id -u; echo changed > /etc/hello; cat /etc/hello",
        ])
        .env("XARCH_ROOT", store.path())
        .env_remove("XDG_RUNTIME_DIR")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert_eq!(
        (o.status.code(), stdout.as_ref()),
        (Some(0), "0\nchanged\n"),
        "{stderr}"
    );
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut v = release
        .trim()
        .split(['.', '-'])
        .map(|x| x.parse::<u32>().unwrap_or(0));
    let (major, minor) = (v.next().unwrap_or(0), v.next().unwrap_or(0));
    if (major, minor) >= (5, 11) {
        assert!(!stderr.contains("overlayfs not available"), "{stderr}");
    }
    // The store's copy of the image is untouched, and the container is gone.
    for e in std::fs::read_dir(store.path().join("rootfs"))
        .unwrap()
        .flatten()
    {
        if e.path().is_dir() {
            assert_eq!(
                std::fs::read_to_string(e.path().join("etc/hello")).unwrap(),
                "lower\n"
            );
        }
    }
    let left = std::fs::read_dir(store.path().join("containers"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name() != "names")
        .count();
    assert_eq!(left, 0);
}

/// Debian arm64 packages making a small root: (package, version).
const DEBIAN_ARM64: [(&str, &str); 10] = [
    ("base-files", "12.4+deb12u15"),
    ("libc6", "2.36-9+deb12u14"),
    ("libgcc-s1", "12.2.0-14+deb12u1"),
    ("coreutils", "9.1-1"),
    ("libacl1", "2.3.1-3"),
    ("libattr1", "1:2.5.1-4"),
    ("libselinux1", "3.4-1+b6"),
    ("libpcre2-8-0", "10.42-1+deb12u2"),
    ("libgmp10", "2:6.2.1+dfsg1-1.1"),
    ("busybox-static", common::BUSYBOX_VERSION),
];

/// The data tar of a Debian package for arm64 (downloaded once into the cache).
fn deb_data(pkg: &str, version: &str) -> Option<Vec<u8>> {
    let dir = common::cache_dir().join("debs");
    std::fs::create_dir_all(&dir).ok()?;
    let file_ver = version.replace(':', "%3a");
    let deb = dir.join(format!("{pkg}_{file_ver}_arm64.deb"));
    if !deb.exists() {
        let ok = Command::new("apt-get")
            .current_dir(&dir)
            .args(["download", &format!("{pkg}:arm64={version}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok || !deb.exists() {
            eprintln!("SKIP: cannot download {pkg}:arm64={version} (scripts/deps-oci.sh)");
            return None;
        }
    }
    let out = Command::new("dpkg-deb")
        .arg("--fsys-tarfile")
        .arg(&deb)
        .output()
        .ok()?;
    out.status.success().then_some(out.stdout)
}

/// The article's flow: pull an arm64 Debian image from the registry, then
/// `xarch container run --rm --platform linux/arm64 IMAGE ls /` with a
/// static xarch (the emulator is xarch itself, /proc/self/exe).
#[test]
fn debian_arm64_pull_and_ls_root() {
    let Some(env) = setup() else { return };
    let mut layers = Vec::new();
    for (pkg, ver) in DEBIAN_ARM64 {
        let Some(data) = deb_data(pkg, ver) else {
            return;
        };
        layers.push((data, "none"));
    }
    let Some(st) = static_xarch() else { return };
    let mut l = Layout::new(&env.work.path().join("debian"));
    let img = l.image_with(
        "arm64",
        &layers,
        serde_json::json!({"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["/bin/busybox", "sh"]}),
    );
    l.tag_image(&img, "bookworm");
    env.reg.push(&l.dir, "bookworm", "test/debian:bookworm");
    let name = env.image("test/debian:bookworm");

    let o = env.xarch_with(
        st,
        &[
            "pull",
            "--tls-verify=false",
            "--platform",
            "linux/arm64",
            "-q",
            &name,
        ],
        "",
        &[],
    );
    assert_eq!(o.code, 0, "pull: {}", o.stderr);
    let o = env.xarch_with(
        st,
        &[
            "container",
            "run",
            "--rm",
            "--platform",
            "linux/arm64",
            &name,
            "ls",
            "/",
        ],
        "",
        &[],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    let listed: Vec<&str> = o.stdout.lines().collect();
    // The image's top-level directories plus what the runtime mounts.
    let mut want: Vec<String> = ["dev", "proc", "sys"].map(String::from).to_vec();
    let root = std::fs::read_dir(env.store.path().join("rootfs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.is_dir())
        .unwrap();
    for e in std::fs::read_dir(&root).unwrap().flatten() {
        want.push(e.file_name().to_string_lossy().into_owned());
    }
    want.sort();
    want.dedup();
    assert_eq!(listed, want, "{}", o.stderr);
    assert!(
        listed.contains(&"usr") && listed.contains(&"lib"),
        "{listed:?}"
    );
    // coreutils' ls is a dynamic arm64 program: it really ran (not busybox).
    let o = env.xarch_with(
        st,
        &[
            "container",
            "run",
            "--rm",
            "--platform",
            "linux/arm64",
            &name,
            "busybox",
            "sh",
            "-c",
            "/bin/ls --version | /usr/bin/head -1; /bin/uname -m; /bin/cat /etc/debian_version",
        ],
        "",
        &[],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(
        o.stdout.lines().take(2).collect::<Vec<_>>(),
        ["ls (GNU coreutils) 9.1", "aarch64"],
        "{}",
        o.stderr
    );
    assert!(
        o.stdout
            .lines()
            .nth(2)
            .is_some_and(|v| v.starts_with("12.")),
        "{}",
        o.stdout
    );
}
