//! Go standard library test binaries under `xarch run`, each compared with
//! the native amd64 build of the same package's tests.
//!
//! The binaries come from the host's Go (Debian's golang: `CGO_ENABLED=0
//! GOARCH=arm64|amd64 go test -c`), built once into
//! `$XARCH_CACHE/go/<go version>/` and reused. Both builds run with
//! `-test.short -test.v`, in the package's source directory, with the same
//! environment (GODEBUG removed: no workarounds), and every top-level test's
//! result is compared: a test that passes natively must pass under xarch (a
//! skip there is a difference too); a test that fails natively may do
//! anything (it fails on both sides, e.g. for lack of a network); a test
//! only xarch ran must not fail. Both runs must end with Go's own PASS or
//! FAIL line, so a crash or a hang of either side is a failure.
//!
//! Threads, futexes, signals (preemption by SIGURG, per-thread syscalls on
//! signal 33), timers, process spawning, sockets and ptrace's EPERM are what
//! these exercise.
//!
//! * `os` and `os/signal` make *host* programs execute the arm64 test binary
//!   (`nohup ./os_signal.test`, `sh -c ./os.test`): both sides run in a new
//!   user + mount namespace with a private binfmt_misc instance (Linux 6.7+)
//!   where xarch is the arm64 handler. Without one, those tests may fail
//!   under xarch (listed in `NEEDS_BINFMT`) and a note says so.
//! * `time` needs `$GOROOT/lib/time/zoneinfo.zip`, which Debian's golang does
//!   not ship. The tests read it as `../../lib/time/zoneinfo.zip` from their
//!   directory and through `runtime.GOROOT()`, so they run in a shadow
//!   GOROOT in the cache (`src/time` copied, `GOROOT` pointing at it) whose
//!   zip is written from the one Go embeds in `time/tzdata` (byte for byte
//!   the zip the Go release ships, same tzdata version as the tests expect).
//!
//! Times measured on the 2-core CI machine (xarch / native, seconds, with
//! cached binaries): sync 3-9 / 0.3, sync/atomic 17-32 / 2, context 1 / 0.1,
//! runtime/debug 1-3 / 0.1, os/signal 8-17 / 3, os 6-11 / 1, os/exec 9-25 /
//! 1, syscall 2-7 / 0.2, net 15-33 / 4, time 8-20 / 3. None is over a
//! minute, so every package runs in full (no `-test.run` subset). The whole
//! file takes about 60 s with cached binaries; the first build of the 20
//! binaries with a cold Go build cache made it 310 s (load average 11).

mod common;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Tests that need the host kernel to run arm64 binaries (binfmt_misc);
/// allowed to fail under xarch only where no private binfmt_misc exists.
const NEEDS_BINFMT: &[&str] = &["TestNohup", "TestDetectNohup", "TestStatStdin"];

/// The harness kills a run that outlives Go's own `-test.timeout` by this much.
const GO_TIMEOUT: Duration = Duration::from_secs(240);
const KILL_AFTER: Duration = Duration::from_secs(300);

/// The host's Go toolchain and this version's cache directory.
struct Go {
    root: PathBuf,
    cache: PathBuf,
}

fn go_env(var: &str) -> Option<String> {
    let out = Command::new("go").args(["env", var]).output().ok()?;
    let v = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out.status.success() && !v.is_empty()).then_some(v)
}

/// `None` (after a message) when there is no Go: the tests skip, or fail
/// under `XARCH_REQUIRE_FIXTURES=1`.
fn go() -> Option<&'static Go> {
    static GO: OnceLock<Option<Go>> = OnceLock::new();
    let go = GO.get_or_init(|| {
        let root = PathBuf::from(go_env("GOROOT")?);
        let version = go_env("GOVERSION")?;
        let cache = common::cache_dir().join("go").join(version);
        std::fs::create_dir_all(&cache).expect("creating the Go cache directory");
        Some(Go { root, cache })
    });
    if go.is_none() {
        let msg = "go is not available (apt-get install golang-go)";
        if std::env::var_os("XARCH_REQUIRE_FIXTURES").is_some_and(|v| v == "1") {
            panic!("{msg}");
        }
        eprintln!("SKIP: {msg}");
    }
    go.as_ref()
}

/// A unique scratch path next to `path`, renamed into place when complete
/// so that concurrent or interrupted runs never see a partial file.
fn scratch(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".tmp{}", std::process::id()));
    PathBuf::from(s)
}

/// The test binary of `pkg` for `arch`, built on first use.
fn test_binary(go: &Go, pkg: &str, arch: &str) -> PathBuf {
    let bin = go
        .cache
        .join(format!("{}.{arch}.test", pkg.replace('/', "_")));
    if bin.exists() {
        return bin;
    }
    let tmp = scratch(&bin);
    let out = Command::new("go")
        .args(["test", "-c", "-o"])
        .arg(&tmp)
        .arg(pkg)
        .env("CGO_ENABLED", "0")
        .env("GOARCH", arch)
        .env("GOFLAGS", "-buildvcs=false")
        .output()
        .expect("running go");
    assert!(
        out.status.success(),
        "go test -c {pkg} for {arch}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::rename(&tmp, &bin).unwrap();
    bin
}

/// A GOROOT for the time tests: `src/time` copied from the real one,
/// `src/go.mod`, and `lib/time/zoneinfo.zip` written from the zip embedded
/// in `time/tzdata`. The real GOROOT if it has the zip already.
fn time_goroot(go: &Go) -> PathBuf {
    if go.root.join("lib/time/zoneinfo.zip").exists() {
        return go.root.clone();
    }
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let shadow = go.cache.join("goroot");
        let zip = shadow.join("lib/time/zoneinfo.zip");
        if zip.exists() {
            return shadow;
        }
        let tmp = scratch(&shadow);
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(tmp.join("lib/time")).unwrap();
        std::fs::create_dir_all(tmp.join("src")).unwrap();
        std::fs::copy(go.root.join("src/go.mod"), tmp.join("src/go.mod")).unwrap();
        let st = Command::new("cp")
            .arg("-r")
            .arg(go.root.join("src/time"))
            .arg(tmp.join("src/time"))
            .status()
            .unwrap();
        assert!(st.success(), "copying $GOROOT/src/time");
        // zipdata.go holds `const zipdata = "..."`, the release's
        // zoneinfo.zip: compile it into a program that writes it out.
        let gen_dir = tmp.join("gen");
        std::fs::create_dir_all(&gen_dir).unwrap();
        let src = std::fs::read_to_string(go.root.join("src/time/tzdata/zipdata.go"))
            .expect("reading $GOROOT/src/time/tzdata/zipdata.go");
        let src = src.replacen("package tzdata\n", "package main\n", 1);
        assert!(src.contains("package main\n"), "unexpected zipdata.go");
        std::fs::write(gen_dir.join("zipdata.go"), src).unwrap();
        std::fs::write(
            gen_dir.join("main.go"),
            "package main\n\nimport \"os\"\n\nfunc main() {\n\
             \tif err := os.WriteFile(os.Args[1], []byte(zipdata), 0o644); err != nil {\n\
             \t\tpanic(err)\n\t}\n}\n",
        )
        .unwrap();
        let out = Command::new("go")
            .args(["run", "."])
            .arg(tmp.join("lib/time/zoneinfo.zip"))
            .current_dir(&gen_dir)
            .env("GO111MODULE", "off")
            .env("GOFLAGS", "-buildvcs=false")
            .output()
            .expect("running go");
        assert!(
            out.status.success(),
            "writing zoneinfo.zip: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::remove_dir_all(&gen_dir).unwrap();
        if std::fs::rename(&tmp, &shadow).is_err() {
            // Someone else finished first.
            let _ = std::fs::remove_dir_all(&tmp);
        }
        assert!(zip.exists(), "{} missing", zip.display());
        shadow
    })
    .clone()
}

/// Runs a command (in a new process group), killing the group after
/// `KILL_AFTER`. `started` gets the pid right after spawning and returns
/// false to abandon the run. Returns status text, stdout, stderr.
fn run_limited(
    mut cmd: Command,
    started: impl FnOnce(u32) -> bool,
) -> Option<(common::Status, String, String)> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd.spawn().expect("spawning a test");
    let pgid = child.id();
    let kill = || {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{pgid}")])
            .stderr(Stdio::null())
            .status();
    };
    let reader = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            String::from_utf8_lossy(&v).into_owned()
        })
    };
    let out_t = reader(Box::new(child.stdout.take().unwrap()));
    let err_t = reader(Box::new(child.stderr.take().unwrap()));
    if !started(pgid) {
        kill();
        let _ = child.wait();
        return None;
    }
    let deadline = Instant::now() + KILL_AFTER;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break match st.code() {
                Some(c) => common::Status::Exit(c),
                None => {
                    use std::os::unix::process::ExitStatusExt;
                    common::Status::Signal(st.signal().unwrap_or(0))
                }
            };
        }
        if Instant::now() > deadline {
            kill();
            let _ = child.wait();
            break common::Status::TimedOut;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // Leftover children (a test's background process) would hold the pipes.
    kill();
    Some((status, out_t.join().unwrap(), err_t.join().unwrap()))
}

/// The script run as root of the new user namespace: waits for the id
/// mapping, mounts a private binfmt_misc on $M, registers $H (a link to
/// xarch named as its binfmt handler) for arm64, and executes "$@".
const NS_SCRIPT: &str = r#"
while [ -z "$(cat /proc/self/uid_map)" ]; do sleep 0.01; done
mount -t binfmt_misc binfmt_misc "$M" 2>/dev/null || exit 77
[ "$(ls "$M" | grep -v -x -e register -e status | wc -l)" = 0 ] || { echo "binfmt_misc at $M is not private" >&2; exit 78; }
"$X" binfmt install --arch arm64 --flags P --interpreter "$H" --mountpoint "$M" >/dev/null
exec "$@"
"#;

/// A directory holding the handler link and the mount point.
struct BinfmtNs {
    dir: common::TempDir,
}

impl BinfmtNs {
    fn new() -> BinfmtNs {
        let dir = common::TempDir::new("go-binfmt");
        std::os::unix::fs::symlink(
            env!("CARGO_BIN_EXE_xarch"),
            dir.path().join("xarch-aarch64-binfmt"),
        )
        .unwrap();
        std::fs::create_dir(dir.path().join("m")).unwrap();
        BinfmtNs { dir }
    }

    /// `argv` wrapped for the namespace.
    fn command(&self, argv: &[OsString]) -> Command {
        let mut cmd = Command::new("unshare");
        cmd.args([
            "--user",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-euc",
        ])
        .arg(NS_SCRIPT)
        .arg("sh")
        .args(argv)
        .env("M", self.dir.path().join("m"))
        .env("H", self.dir.path().join("xarch-aarch64-binfmt"))
        .env("X", env!("CARGO_BIN_EXE_xarch"));
        cmd
    }

    /// Maps uids and gids 0-65535 to themselves once `pid` is in its new
    /// user namespace (root in it may then setuid and own files as here).
    fn map_ids(pid: u32) -> bool {
        let own = std::fs::read_link("/proc/self/ns/user").unwrap();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            match std::fs::read_link(format!("/proc/{pid}/ns/user")) {
                Ok(ns) if ns != own => {
                    return std::fs::write(format!("/proc/{pid}/uid_map"), "0 0 65536").is_ok()
                        && std::fs::write(format!("/proc/{pid}/gid_map"), "0 0 65536").is_ok();
                }
                Ok(_) => std::thread::sleep(Duration::from_millis(2)),
                Err(_) => return false,
            }
        }
        false
    }
}

/// Whether a private binfmt_misc namespace works here (probed once).
fn binfmt_ns_available() -> bool {
    static OK: OnceLock<bool> = OnceLock::new();
    *OK.get_or_init(|| {
        let ns = BinfmtNs::new();
        let r = run_limited(ns.command(&["true".into()]), BinfmtNs::map_ids);
        let ok = matches!(r, Some((common::Status::Exit(0), _, _)));
        if !ok {
            eprintln!(
                "note: no private binfmt_misc (needs root and Linux 6.7+): {:?}",
                r.map(|(s, _, e)| (s, e))
            );
        }
        ok
    })
}

/// One side's run: top-level test results and how it ended.
struct Run {
    results: BTreeMap<String, String>,
    status: common::Status,
    stdout: String,
    stderr: String,
    secs: f64,
}

impl Run {
    fn count(&self, what: &str) -> usize {
        self.results.values().filter(|r| *r == what).count()
    }
    /// Go printed its final verdict (did not crash or hang).
    fn finished(&self) -> bool {
        matches!(self.status, common::Status::Exit(0 | 1))
            && self.stdout.lines().any(|l| l == "PASS" || l == "FAIL")
    }
}

fn run_side(argv: Vec<OsString>, dir: &Path, env: &[(&str, &Path)], ns: Option<&BinfmtNs>) -> Run {
    let mut cmd = match ns {
        Some(ns) => ns.command(&argv),
        None => {
            let mut c = Command::new(&argv[0]);
            c.args(&argv[1..]);
            c
        }
    };
    // PWD as a shell would set it (os/exec's TestImplicitPWD checks it).
    cmd.current_dir(dir).env("PWD", dir).env_remove("GODEBUG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let start = Instant::now();
    let (status, stdout, stderr) = match ns {
        Some(_) => run_limited(cmd, BinfmtNs::map_ids),
        None => run_limited(cmd, |_| true),
    }
    .expect("could not set up the user namespace");
    let results = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("--- "))
        .filter_map(|l| {
            let (verdict, rest) = l.split_once(": ")?;
            let name = rest.split_whitespace().next()?;
            matches!(verdict, "PASS" | "FAIL" | "SKIP")
                .then(|| (name.to_owned(), verdict.to_owned()))
        })
        .collect();
    Run {
        results,
        status,
        stdout,
        stderr,
        secs: start.elapsed().as_secs_f64(),
    }
}

fn tail(s: &str, lines: usize) -> String {
    let v: Vec<&str> = s.lines().collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}

/// Runs `pkg`'s tests natively and under xarch and compares them (see the
/// module comment). `binfmt`: the package runs arm64 binaries from host
/// programs.
fn run_pkg(pkg: &str, binfmt: bool) {
    let Some(go) = go() else {
        return;
    };
    let arm = test_binary(go, pkg, "arm64");
    let amd = test_binary(go, pkg, "amd64");
    let (dir, env): (PathBuf, Vec<(&str, PathBuf)>) = if pkg == "time" {
        let root = time_goroot(go);
        (root.join("src/time"), vec![("GOROOT", root)])
    } else {
        (go.root.join("src").join(pkg), vec![])
    };
    let env: Vec<(&str, &Path)> = env.iter().map(|(k, v)| (*k, v.as_path())).collect();
    let ns = (binfmt && binfmt_ns_available()).then(BinfmtNs::new);
    let args = [
        "-test.short".to_owned(),
        "-test.v".to_owned(),
        format!("-test.timeout={}s", GO_TIMEOUT.as_secs()),
    ];
    let mut argv: Vec<OsString> = vec![amd.into()];
    argv.extend(args.iter().map(OsString::from));
    let native = run_side(argv, &dir, &env, ns.as_ref());
    let mut argv: Vec<OsString> =
        vec![env!("CARGO_BIN_EXE_xarch").into(), "run".into(), arm.into()];
    argv.extend(args.iter().map(OsString::from));
    let emulated = run_side(argv, &dir, &env, ns.as_ref());

    let summary = |r: &Run| {
        format!(
            "{} passed, {} skipped, {} failed, {} in {:.1} s",
            r.count("PASS"),
            r.count("SKIP"),
            r.count("FAIL"),
            r.status,
            r.secs
        )
    };
    eprintln!(
        "{pkg}: native: {}; xarch: {}",
        summary(&native),
        summary(&emulated)
    );
    assert!(
        native.finished() && native.count("PASS") > 0,
        "{pkg}: the native run did not complete ({})\nstdout (tail):\n{}\nstderr (tail):\n{}",
        native.status,
        tail(&native.stdout, 40),
        tail(&native.stderr, 40)
    );
    let mut unexpected = Vec::new();
    let mut allowed = Vec::new();
    for (name, got) in &emulated.results {
        let want = native.results.get(name).map(String::as_str);
        let ok = match (want, got.as_str()) {
            (Some("FAIL"), _) => true,
            (Some(w), g) if w == g => true,
            (Some("SKIP") | None, "PASS" | "SKIP") => true,
            _ => false,
        };
        if ok {
            continue;
        }
        if ns.is_none() && got == "FAIL" && NEEDS_BINFMT.contains(&name.as_str()) {
            allowed.push(name.as_str());
        } else {
            unexpected.push(format!(
                "{name}: native {}, xarch {got}",
                want.unwrap_or("not run")
            ));
        }
    }
    for name in native.results.keys() {
        if !emulated.results.contains_key(name) {
            unexpected.push(format!("{name}: not run under xarch"));
        }
    }
    if !allowed.is_empty() {
        eprintln!("note: {pkg}: {allowed:?} failed for lack of a private binfmt_misc");
    }
    let native_failed: Vec<_> = native
        .results
        .iter()
        .filter(|(_, r)| *r == "FAIL")
        .map(|(n, _)| n.as_str())
        .collect();
    if !native_failed.is_empty() {
        eprintln!("note: {pkg}: failing natively too: {native_failed:?}");
    }
    assert!(
        emulated.finished() && unexpected.is_empty(),
        "{pkg} under xarch: {}, unexpected: {unexpected:#?}\nstdout (tail):\n{}\nstderr (tail):\n{}",
        emulated.status,
        tail(&emulated.stdout, 60),
        tail(&emulated.stderr, 40)
    );
}

#[test]
fn go_sync() {
    run_pkg("sync", false);
}

#[test]
fn go_sync_atomic() {
    run_pkg("sync/atomic", false);
}

#[test]
fn go_context() {
    run_pkg("context", false);
}

#[test]
fn go_runtime_debug() {
    run_pkg("runtime/debug", false);
}

#[test]
fn go_os_signal() {
    run_pkg("os/signal", true);
}

#[test]
fn go_os() {
    run_pkg("os", true);
}

#[test]
fn go_os_exec() {
    run_pkg("os/exec", false);
}

#[test]
fn go_syscall() {
    run_pkg("syscall", false);
}

/// Loopback only: the tests that need an external network skip in short
/// mode (and fail on both sides where they do not).
#[test]
fn go_net() {
    run_pkg("net", false);
}

#[test]
fn go_time() {
    run_pkg("time", false);
}
