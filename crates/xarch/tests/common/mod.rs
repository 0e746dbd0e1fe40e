//! Shared harness for the differential integration tests: where fixtures
//! live, which command runs arm64 programs, and how two runs are compared.
//!
//! * `XARCH_CACHE`: fixture cache (default `<repo>/.cache`, filled by
//!   `scripts/fixtures.sh` and `tests/guest/build.sh`).
//! * `XARCH_TEST_RUNNER`: the command that runs an arm64 program, split on
//!   whitespace, the program and its arguments appended (default: this
//!   crate's `xarch` binary with `run --`, and `--engine=$XARCH_ENGINE`
//!   when that is set). `scripts/qemu-runner.sh` is the stand-in while the
//!   emulator is young.
//! * `XARCH_TEST_TIMEOUT`: seconds before one program run is killed (60).
//! * `XARCH_REQUIRE_FIXTURES=1` (set by `.ci/run`): missing fixtures fail
//!   the test instead of skipping it.
#![allow(dead_code)] // each test file uses a different part of this module

use std::ffi::OsString;
use std::fmt;
use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// The fixture cache directory, canonical (no `..`), so that a program's
/// path as passed to execve is also its real path.
pub fn cache_dir() -> PathBuf {
    let dir = match std::env::var_os("XARCH_CACHE") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.cache"),
    };
    dir.canonicalize().unwrap_or(dir)
}

/// Returns `path` if it exists; otherwise skips the test (prints why and
/// returns `None`), or panics when `XARCH_REQUIRE_FIXTURES=1`.
pub fn fixture(path: PathBuf, how: &str) -> Option<PathBuf> {
    if path.exists() {
        return Some(path);
    }
    let msg = format!("fixture {} missing: run {how}", path.display());
    if std::env::var_os("XARCH_REQUIRE_FIXTURES").is_some_and(|v| v == "1") {
        panic!("{msg}");
    }
    eprintln!("SKIP: {msg}");
    None
}

/// The command prefix that runs an arm64 program.
pub fn runner() -> Vec<OsString> {
    match std::env::var("XARCH_TEST_RUNNER") {
        Ok(r) if !r.trim().is_empty() => r.split_whitespace().map(OsString::from).collect(),
        _ => {
            let mut argv = vec![env!("CARGO_BIN_EXE_xarch").into(), "run".into()];
            // The runs clear the environment: pass a forced engine on.
            if let Ok(e) = std::env::var("XARCH_ENGINE")
                && !e.is_empty()
            {
                argv.push(format!("--engine={e}").into());
            }
            argv.push("--".into());
            argv
        }
    }
}

fn timeout() -> Duration {
    let secs = std::env::var("XARCH_TEST_TIMEOUT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    Duration::from_secs(secs)
}

/// How a process ended.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Status {
    Exit(i32),
    Signal(i32),
    TimedOut,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::Exit(c) => write!(f, "exit {c}"),
            Status::Signal(s) => write!(f, "killed by signal {s}"),
            Status::TimedOut => write!(f, "timed out"),
        }
    }
}

/// Everything compared between two runs.
#[derive(Clone, PartialEq, Eq)]
pub struct Outcome {
    pub stdout: Vec<u8>,
    pub stderr: String,
    pub status: Status,
}

impl fmt::Debug for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "status: {}", self.status)?;
        writeln!(f, "stdout:\n{}", String::from_utf8_lossy(&self.stdout))?;
        write!(f, "stderr:\n{}", self.stderr)
    }
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!(
            "xarch-test-{tag}-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Compiles `src` into the static arm64 program `out` with
/// `aarch64-linux-gnu-gcc -O1 -static` (and `-pthread`); `None` (a SKIP
/// message) when the cross compiler is missing.
pub fn cross_compile_static(src: &Path, out: &Path) -> Option<PathBuf> {
    let Ok(status) = Command::new("aarch64-linux-gnu-gcc")
        .args(["-O1", "-static", "-pthread", "-o"])
        .arg(out)
        .arg(src)
        .status()
    else {
        eprintln!("SKIP: aarch64-linux-gnu-gcc is not available");
        return None;
    };
    assert!(status.success(), "compiling {}", src.display());
    Some(out.to_path_buf())
}

/// The command line of `xarch run --engine=ENGINE -- PROG ARGS...` with the
/// xarch cargo built.
pub fn xarch_argv(engine: &str, prog: &Path, args: &[&str]) -> Vec<OsString> {
    let mut argv: Vec<OsString> = vec![
        env!("CARGO_BIN_EXE_xarch").into(),
        "run".into(),
        format!("--engine={engine}").into(),
        "--".into(),
        prog.into(),
    ];
    argv.extend(args.iter().map(OsString::from));
    argv
}

/// Runs `argv` in `dir` with exactly `env`, feeding `stdin`; kills the whole
/// process group after the timeout.
pub fn run(argv: &[OsString], dir: &Path, env: &[(&str, &str)], stdin: &[u8]) -> Outcome {
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .current_dir(dir)
        .env_clear()
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", argv[0]));
    let pgid = child.id();
    let mut input = child.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data); // the program may exit without reading
    });
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + timeout();
    let status = loop {
        match child.try_wait().expect("wait") {
            Some(st) => break st,
            None if Instant::now() > deadline => {
                kill_group(pgid);
                let _ = child.wait();
                let _ = writer.join();
                return Outcome {
                    stdout: out_t.join().unwrap_or_default(),
                    stderr: String::from_utf8_lossy(&err_t.join().unwrap_or_default()).into(),
                    status: Status::TimedOut,
                };
            }
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    };
    // Leftover children of the program (e.g. a background job) would keep the
    // pipes open: end the group once the program itself has exited.
    kill_group(pgid);
    let _ = writer.join();
    let stdout = out_t.join().unwrap_or_default();
    let stderr = String::from_utf8_lossy(&err_t.join().unwrap_or_default()).into_owned();
    let status = match (status.code(), status.signal()) {
        (Some(c), _) => Status::Exit(c),
        (None, Some(s)) => Status::Signal(s),
        (None, None) => unreachable!("a process ends by exit or signal"),
    };
    Outcome {
        stdout,
        stderr,
        status,
    }
}

fn kill_group(pgid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .stderr(Stdio::null())
        .status();
}

/// Makes stderr comparable: each `(from, to)` replaced, and lines that only
/// the stand-in runner prints (qemu's report of a guest's fatal signal)
/// dropped. xarch must not print such lines: the guest never sees the
/// emulator.
pub fn normalize(stderr: &str, replace: &[(&str, &str)]) -> String {
    let mut s = stderr.to_owned();
    for (from, to) in replace {
        if !from.is_empty() {
            s = s.replace(from, to);
        }
    }
    s.lines()
        .filter(|l| {
            !(l.starts_with("qemu: uncaught target signal ") && l.ends_with(" - core dumped"))
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Panics with both outcomes when they differ.
pub fn assert_same(what: &str, native: &Outcome, emulated: &Outcome) {
    if native == emulated {
        return;
    }
    let mut msg = format!("{what}: emulated arm64 run differs from native amd64 run\n");
    if native.status != emulated.status {
        msg += &format!(
            "  status: native {}, emulated {}\n",
            native.status, emulated.status
        );
    }
    if native.stdout != emulated.stdout {
        msg += &format!(
            "  stdout differs:\n{}",
            diff(&native.stdout, &emulated.stdout)
        );
    }
    if native.stderr != emulated.stderr {
        msg += &format!(
            "  stderr differs:\n{}",
            diff(native.stderr.as_bytes(), emulated.stderr.as_bytes())
        );
    }
    panic!("{msg}");
}

/// A short line diff (first differing lines with context), enough to see
/// what went wrong without a diff crate.
fn diff(a: &[u8], b: &[u8]) -> String {
    let a = String::from_utf8_lossy(a);
    let b = String::from_utf8_lossy(b);
    let al: Vec<&str> = a.lines().collect();
    let bl: Vec<&str> = b.lines().collect();
    let first = al
        .iter()
        .zip(&bl)
        .position(|(x, y)| x != y)
        .unwrap_or(al.len().min(bl.len()));
    let mut s = format!(
        "    (first difference at line {}; native {} lines, emulated {} lines)\n",
        first + 1,
        al.len(),
        bl.len()
    );
    let lo = first.saturating_sub(2);
    for (tag, lines) in [("native  ", &al), ("emulated", &bl)] {
        for l in lines.iter().skip(lo).take(8) {
            s += &format!("    {tag} | {l}\n");
        }
    }
    if a.len() == b.len() && al.len() == bl.len() && first == al.len() {
        s += "    (byte-level difference only)\n";
    }
    s
}
