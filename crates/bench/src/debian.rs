//! The Debian-root benchmark (issue "Fast engine"): the same workloads in a
//! Debian bookworm amd64 root natively, and in the arm64 root of the same
//! package versions under `xarch run --rootfs` and under qemu-aarch64
//! (static, registered in a private binfmt_misc instance so that every
//! program the workload executes runs under it too), median of N, with
//! ratios; plus the maximum RSS of a hello world and of python3.
//!
//! scripts/bench.sh prepares everything (roots, zlib source, static xarch,
//! qemu) and calls `xarch-bench debian`.

use crate::report;
use crate::table::{Row, Table, median};
use anyhow::{Context, Result, bail};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

#[derive(clap::Args)]
pub struct DebianArgs {
    /// Runs per workload and runner (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// A (workload, runner) whose first run takes longer than this many
    /// seconds is not repeated (its figure is that one run).
    #[arg(long, default_value_t = 60.0)]
    once_over: f64,
    /// xarch engines to measure side by side (e.g. baseline,opt).
    #[arg(long, value_delimiter = ',', default_value = "baseline")]
    engines: Vec<String>,
    /// Only the workloads whose key (enter, configure, make, xz, gzip, python,
    /// sqlite, perl, true, python-c, rss) is in this list.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// xarch's persistent code cache: `warm` (emptied once at the start:
    /// the first run of a program fills it, later runs and later
    /// programs of the same files use it, as a user's repeated runs do)
    /// or `cold` (emptied before every run: every process translates
    /// all its code, as with no cache).
    #[arg(long, default_value = "warm", value_parser = ["warm", "cold"])]
    code_cache: String,
    /// Shrinks inputs and loop counts by this factor (e.g. 0.05 for a quick
    /// check while developing; figures are then not comparable).
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// The extracted amd64 root.
    #[arg(long)]
    amd64_root: PathBuf,
    /// The extracted arm64 root (same package versions).
    #[arg(long)]
    arm64_root: PathBuf,
    /// zlib source tarball (scripts/bench-fixtures.sh), top directory zlib/.
    #[arg(long)]
    zlib: PathBuf,
    /// A statically linked xarch (`xarch run --rootfs` needs one).
    #[arg(long)]
    xarch: PathBuf,
    /// A statically linked qemu-aarch64; without it qemu is skipped.
    #[arg(long)]
    qemu: Option<PathBuf>,
    /// Write the tables and the machine into this Markdown file.
    #[arg(long)]
    write: Option<PathBuf>,
    /// A sentence for the written section (e.g. about the machine's load).
    #[arg(long)]
    note: Option<String>,
    /// The command line to record in the written section.
    #[arg(long, hide = true)]
    invocation: Option<String>,
    /// Where the generated inputs are cached.
    #[arg(long, env = "XARCH_CACHE", default_value = ".cache")]
    cache: PathBuf,
}

const GUEST_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Inside each root: inputs and scratch files of the workloads.
const BENCH_DIR: &str = "tmp/bench";
/// Inside the arm64 root: xarch's persistent code cache.
const CODE_CACHE_DIR: &str = "var/cache/xarch-bench-code";
/// binfmt_misc rule for aarch64 ELF executables (magic and mask as in
/// Debian's qemu-user), interpreter appended. F: the interpreter is opened
/// at registration, so it works inside the chroot; P: argv[0] preserved;
/// O: the binary is passed open.
const AARCH64_BINFMT: &str = r":xarch-bench-aarch64:M::\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:";

#[derive(Clone, Debug, PartialEq)]
enum Kind {
    Native,
    Xarch(String),
    Qemu,
}

/// A way to run a shell command in a root.
struct Runner {
    label: String,
    kind: Kind,
    root: PathBuf,
}

impl Runner {
    /// Empties xarch's code cache in the root.
    fn empty_code_cache(&self) -> Result<()> {
        let dir = self.root.join(CODE_CACHE_DIR);
        if matches!(self.kind, Kind::Xarch(_)) && dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("emptying {}", dir.display()))?;
        }
        Ok(())
    }

    /// `sh -c SCRIPT` in the root, working directory /tmp/bench, a clean
    /// environment with PATH and HOME.
    fn command(&self, args: &DebianArgs, script: &str) -> Command {
        let root = self.root.display().to_string();
        let env = format!("/usr/bin/env -i PATH={GUEST_PATH} HOME=/root");
        match &self.kind {
            Kind::Native => {
                // As scripts/rootfs-compare.sh: private mount and pid
                // namespaces, a fresh /proc.
                let mut c = Command::new("unshare");
                c.args(["--mount", "--pid", "--fork", "--propagation", "private"])
                    .args(["chroot", &root, "/bin/sh", "-c"])
                    .arg(format!(
                        "mount -t proc proc /proc && exec {env} /bin/sh -c \"cd /{BENCH_DIR} && $1\""
                    ))
                    .args(["sh", script]);
                c
            }
            Kind::Xarch(engine) => {
                let mut c = Command::new(&args.xarch);
                // (`--rootfs` gives the guest a clean environment; the
                // code cache must be named there to be used at all.)
                c.args(["run", &format!("--engine={engine}"), "--rootfs", &root])
                    .args(["-e", &format!("XARCH_CODE_CACHE=/{CODE_CACHE_DIR}")])
                    .args(["--workdir", &format!("/{BENCH_DIR}")])
                    .args(["/bin/sh", "-c", script]);
                c
            }
            Kind::Qemu => {
                // A user namespace owns a private binfmt_misc instance
                // (Linux >= 6.7): the host's handlers are not touched.
                let qemu = args.qemu.as_ref().map(|q| q.display().to_string());
                let rule = format!("{AARCH64_BINFMT}{}:OPF", qemu.unwrap_or_default());
                let mut c = Command::new("unshare");
                c.args(["--user", "--map-root-user", "--mount", "--pid", "--fork"])
                    .args(["--propagation", "private", "/bin/sh", "-c"])
                    .arg(format!(
                        "set -e; mount -t proc proc \"$2/proc\"; \
                         mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc; \
                         printf '%s\\n' \"$1\" >/proc/sys/fs/binfmt_misc/register; \
                         exec chroot \"$2\" {env} /bin/sh -c \"cd /{BENCH_DIR} && $3\""
                    ))
                    .args(["sh", &rule, &root, script]);
                c
            }
        }
    }

    /// Runs SCRIPT; on success its stdout, the wall time and the CPU time
    /// (user + system of the whole process tree) in seconds.
    fn run(&self, args: &DebianArgs, script: &str) -> Result<(String, Timing)> {
        if args.code_cache == "cold" {
            self.empty_code_cache()?;
        }
        let mut cmd = self.command(args, script);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let start = Instant::now();
        let mut child = cmd
            .spawn()
            .with_context(|| format!("{}: starting {:?}", self.label, cmd.get_program()))?;
        // Read both pipes to the end (stderr on a thread) before waiting.
        let mut err_pipe = child.stderr.take().context("stderr")?;
        let err_thread = std::thread::spawn(move || {
            let mut e = Vec::new();
            let _ = err_pipe.read_to_end(&mut e);
            e
        });
        let mut out = Vec::new();
        child
            .stdout
            .take()
            .context("stdout")?
            .read_to_end(&mut out)?;
        let (status, cpu) = wait_with_cpu(&child)?;
        let wall = start.elapsed().as_secs_f64();
        let err = err_thread.join().unwrap_or_default();
        if !status.success() {
            let err = String::from_utf8_lossy(&err);
            let tail: Vec<&str> = err.lines().rev().take(6).collect();
            bail!(
                "{} failed ({status}): {script}\n  {}",
                self.label,
                tail.into_iter().rev().collect::<Vec<_>>().join("\n  ")
            );
        }
        Ok((
            String::from_utf8_lossy(&out).into_owned(),
            Timing { wall, cpu },
        ))
    }
}

/// Wall-clock and CPU seconds of one command.
#[derive(Clone, Copy, Debug)]
struct Timing {
    wall: f64,
    cpu: f64,
}

/// Waits for `child` with wait4: its exit status and the user + system
/// CPU seconds of it and of every descendant that was waited for (the
/// runners' init processes reap orphans, so that is the whole tree).
fn wait_with_cpu(child: &std::process::Child) -> Result<(std::process::ExitStatus, f64)> {
    use std::os::unix::process::ExitStatusExt;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value of that plain C struct;
    // wait4 writes status and rusage, both live locals. `child` was never
    // waited for by std, so the pid is still ours to reap.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        loop {
            if libc::wait4(pid, &mut status, 0, &mut ru) == pid {
                break ru;
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                bail!("wait4: {e}");
            }
        }
    };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Ok((
        std::process::ExitStatus::from_raw(status),
        tv(ru.ru_utime) + tv(ru.ru_stime),
    ))
}

/// One workload: a setup (untimed, same runner) and the timed command,
/// both shell commands run in /tmp/bench of the root.
struct Workload {
    key: &'static str,
    name: String,
    setup: Option<String>,
    cmd: String,
    per_process: Option<usize>,
    in_geomean: bool,
}

/// Input sizes and loop counts at `scale` 1 are the issue's.
struct Sizes {
    mix_bytes: usize,
    inserts: usize,
    py_iters: usize,
    trues: usize,
    py_starts: usize,
}

impl Sizes {
    fn new(scale: f64) -> Self {
        let s = |n: f64, min: f64| (n * scale).max(min).round() as usize;
        Sizes {
            mix_bytes: s((20 << 20) as f64, 65536.0),
            inserts: s(300_000.0, 1000.0),
            py_iters: s(1_000_000.0, 10_000.0),
            trues: s(200.0, 5.0),
            py_starts: s(20.0, 2.0),
        }
    }
}

fn mib(bytes: usize) -> String {
    let m = bytes as f64 / (1 << 20) as f64;
    if m >= 1.0 && m.fract() == 0.0 {
        format!("{m:.0} MiB")
    } else {
        format!("{m:.2} MiB")
    }
}

fn workloads(sz: &Sizes) -> Vec<Workload> {
    let extract = "rm -rf zlib && tar -xf zlib.tar.gz";
    let configure = "cd zlib && CFLAGS=-O3 ./configure >/dev/null";
    let lp =
        |n: usize, body: &str| format!("i=0; while [ $i -lt {n} ]; do {body}; i=$((i + 1)); done");
    vec![
        Workload {
            key: "enter",
            name: "enter the root (sh -c :; not in geomean)".into(),
            setup: None,
            cmd: ":".into(),
            per_process: None,
            in_geomean: false,
        },
        Workload {
            key: "configure",
            name: "zlib ./configure".into(),
            setup: Some(extract.into()),
            cmd: configure.into(),
            per_process: None,
            in_geomean: true,
        },
        Workload {
            key: "make",
            name: "zlib make -j1 (gcc -O3)".into(),
            // Configured once (by the configure workload or here), then
            // `make clean` before each build.
            setup: Some(format!(
                "if ! [ -f zlib/zlib.pc ]; then {extract} && ({configure}); fi && cd zlib && make clean >/dev/null"
            )),
            cmd: "cd zlib && make -j1 >/dev/null".into(),
            per_process: None,
            in_geomean: true,
        },
        Workload {
            key: "xz",
            name: format!("xz -9 -T1, {}", mib(sz.mix_bytes)),
            setup: None,
            cmd: "xz -9 -T1 -c mix >mix.xz && wc -c <mix.xz".into(),
            per_process: None,
            in_geomean: true,
        },
        Workload {
            key: "gzip",
            name: format!("gzip -9, {}", mib(sz.mix_bytes)),
            setup: None,
            cmd: "gzip -9 -c mix >mix.gz && wc -c <mix.gz".into(),
            per_process: None,
            in_geomean: true,
        },
        Workload {
            key: "python",
            name: "python3 pure-Python loop".into(),
            setup: None,
            cmd: format!("python3 loop.py {}", sz.py_iters),
            per_process: None,
            in_geomean: true,
        },
        Workload {
            key: "sqlite",
            name: format!("sqlite3 {}k inserts", sz.inserts / 1000),
            setup: Some("rm -f t.db t.db-journal".into()),
            cmd: "sqlite3 t.db <inserts.sql".into(),
            per_process: None,
            in_geomean: true,
        },
        Workload {
            key: "perl",
            name: format!("perl regex over {}", mib(sz.mix_bytes)),
            setup: None,
            cmd: "perl regex.pl mix".into(),
            per_process: None,
            in_geomean: true,
        },
        Workload {
            key: "true",
            name: format!("/bin/true x{} (per process)", sz.trues),
            setup: None,
            cmd: lp(sz.trues, "/bin/true"),
            per_process: Some(sz.trues),
            in_geomean: true,
        },
        Workload {
            key: "python-c",
            name: format!("python3 -c pass x{}", sz.py_starts),
            setup: None,
            cmd: lp(sz.py_starts, "python3 -c pass"),
            per_process: None,
            in_geomean: true,
        },
    ]
}

/// A deterministic mix of text and binary: lines of words and numbers, and
/// now and then a block of skewed random bytes (compressible, but not
/// trivially). xorshift64 with a fixed seed.
pub fn mix_input(bytes: usize) -> Vec<u8> {
    let mut rng = crate::table::XorShift(0x9e37_79b9_7f4a_7c15);
    let mut next = move || rng.next_u64();
    let words = [
        "emulate",
        "arm64",
        "the",
        "kernel",
        "binfmt",
        "register",
        "of",
        "and",
        "container",
        "x86",
        "running",
        "translating",
        "cache",
        "string",
        "thing",
        "building",
        "a",
        "to",
    ];
    let mut out = Vec::with_capacity(bytes + 4096);
    while out.len() < bytes {
        if next() % 16 == 0 {
            // 1-4 KiB of bytes drawn mostly from a small alphabet.
            let n = 1024 + (next() % 3072) as usize;
            for _ in 0..n {
                let r = next();
                out.push(if r % 4 == 0 {
                    (r >> 8) as u8
                } else {
                    b"0123456789abcdef"[(r >> 8) as usize % 16]
                });
            }
            out.push(b'\n');
        } else {
            let n = 4 + next() % 12;
            for k in 0..n {
                if k > 0 {
                    out.push(b' ');
                }
                if next() % 5 == 0 {
                    out.extend_from_slice(
                        format!("{}-{}", next() % 10_000, next() % 100).as_bytes(),
                    );
                } else {
                    out.extend_from_slice(words[(next() % words.len() as u64) as usize].as_bytes());
                }
            }
            out.push(b'\n');
        }
    }
    out.truncate(bytes);
    out
}

fn inserts_sql(n: usize) -> String {
    let mut s = String::from(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, v INTEGER);\nCREATE INDEX t_v ON t(v);\nBEGIN;\n",
    );
    for i in 0..n {
        s.push_str(&format!(
            "INSERT INTO t(name, v) VALUES('row {i} of the benchmark', {});\n",
            (i * 7919) % 100_003
        ));
    }
    s.push_str("COMMIT;\nSELECT count(*), sum(v), max(name) FROM t WHERE v % 3 = 1;\n");
    s
}

const LOOP_PY: &str = r#"import sys
n = int(sys.argv[1])
d = {}
s = 0
words = ["alpha", "beta", "gamma", "delta"]
for i in range(n):
    k = i % 1009
    d[k] = d.get(k, 0) + i
    s += (i * i) % 7
    if i % 3 == 0:
        s ^= len(words[i % 4] + str(i))
print(s, len(d), sum(d.values()) % 1000003)
"#;

const REGEX_PL: &str = r#"my ($words, $nums, $ing) = (0, 0, 0);
while (<>) {
    $words++ while /\b[a-z]{3,}\b/g;
    $nums++ while /(\d+)-(\d+)/g;
    $ing++ if /\w+ing\b.*\bthe\b/;
}
print "$words $nums $ing\n";
"#;

const HELLO_C: &str = "#include <stdio.h>\nint main(void) { puts(\"hello, world\"); return 0; }\n";

/// Writes the inputs into DIR/tmp/bench of a root (generated files are
/// cached under the cache directory, keyed by size).
fn stage_inputs(cache: &Path, root: &Path, zlib: &Path, sz: &Sizes) -> Result<()> {
    let gen_dir = cache.join("bench-inputs/debian");
    std::fs::create_dir_all(&gen_dir)?;
    let cached = |name: String, make: &dyn Fn() -> Vec<u8>| -> Result<PathBuf> {
        let p = gen_dir.join(name);
        if !p.exists() {
            let tmp = p.with_extension("tmp");
            std::fs::write(&tmp, make())?;
            std::fs::rename(&tmp, &p)?;
        }
        Ok(p)
    };
    let mix = cached(format!("mix-v1-{}", sz.mix_bytes), &|| {
        mix_input(sz.mix_bytes)
    })?;
    let sql = cached(format!("inserts-v1-{}.sql", sz.inserts), &|| {
        inserts_sql(sz.inserts).into_bytes()
    })?;
    let dir = root.join(BENCH_DIR);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    std::fs::copy(&mix, dir.join("mix"))?;
    std::fs::copy(&sql, dir.join("inserts.sql"))?;
    std::fs::copy(zlib, dir.join("zlib.tar.gz"))
        .with_context(|| format!("copying {}", zlib.display()))?;
    std::fs::write(dir.join("loop.py"), LOOP_PY)?;
    std::fs::write(dir.join("regex.pl"), REGEX_PL)?;
    std::fs::write(dir.join("hello.c"), HELLO_C)?;
    Ok(())
}

/// Versions of the main packages in a root, from its dpkg status file.
fn package_versions(root: &Path) -> String {
    let status = std::fs::read_to_string(root.join("var/lib/dpkg/status")).unwrap_or_default();
    let wanted = [
        "gcc-12",
        "python3.11",
        "perl",
        "sqlite3",
        "xz-utils",
        "gzip",
        "libc6",
        "dash",
    ];
    let mut found = Vec::new();
    for para in status.split("\n\n") {
        let field = |f: &str| {
            para.lines()
                .find_map(|l| l.strip_prefix(f))
                .map(|v| v.trim().to_string())
        };
        if let (Some(p), Some(v)) = (field("Package:"), field("Version:"))
            && wanted.contains(&p.as_str())
        {
            found.push(format!("{p} {v}"));
        }
    }
    found.sort();
    found.join(", ")
}

/// The first line of `prog --version`.
fn version_line(prog: &Path) -> String {
    Command::new(prog)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_string)
        })
        .unwrap_or_else(|| "unknown version".into())
}

/// Maximum RSS in KiB of a command, measured by a fresh `xarch-bench
/// maxrss` (so this process's own memory does not leak into the figure).
fn max_rss(chroot: Option<&Path>, argv: &[String]) -> Result<u64> {
    let mut c = Command::new(std::env::current_exe()?);
    c.arg("maxrss");
    if let Some(r) = chroot {
        c.arg("--chroot").arg(r);
    }
    let out = c
        .arg("--")
        .args(argv)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()?;
    if !out.status.success() {
        bail!(
            "{}: {}",
            argv.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let s = String::from_utf8_lossy(&out.stdout);
    s.trim()
        .parse()
        .with_context(|| format!("maxrss printed {s:?}"))
}

/// RSS of one program under every runner: argv in the root, for native
/// in a chroot, for the emulators with the arm64 root as their sysroot
/// (`-L`; a single process, the emulator included).
fn rss_row(args: &DebianArgs, runners: &[Runner], argv: &[&str]) -> Vec<Option<u64>> {
    let mut cells = Vec::new();
    for r in runners {
        let cmd: Vec<String> = match &r.kind {
            Kind::Native => argv.iter().map(|s| s.to_string()).collect(),
            Kind::Xarch(e) => [
                args.xarch.display().to_string(),
                "run".into(),
                format!("--engine={e}"),
                "-L".into(),
                r.root.display().to_string(),
            ]
            .into_iter()
            .chain(argv.iter().map(|s| s.to_string()))
            .collect(),
            Kind::Qemu => [
                args.qemu
                    .as_ref()
                    .map(|q| q.display().to_string())
                    .unwrap_or_default(),
                "-L".into(),
                r.root.display().to_string(),
                r.root
                    .join(argv[0].trim_start_matches('/'))
                    .display()
                    .to_string(),
            ]
            .into_iter()
            .chain(argv[1..].iter().map(|s| s.to_string()))
            .collect(),
        };
        let chroot = (r.kind == Kind::Native).then_some(r.root.as_path());
        let samples: Vec<f64> = (0..args.runs.max(1))
            .filter_map(|_| match max_rss(chroot, &cmd) {
                Ok(k) => Some(k as f64),
                Err(e) => {
                    eprintln!("bench: rss {}: {e:#}", r.label);
                    None
                }
            })
            .collect();
        cells.push(median(&samples).map(|m| m as u64));
    }
    cells
}

/// The RSS table: absolute MiB per runner, and the delta to native.
fn rss_markdown(labels: &[String], rows: &[(String, Vec<Option<u64>>)]) -> String {
    let mut header = vec!["program".to_string()];
    header.extend(labels.iter().map(|l| format!("{l} MiB")));
    header.extend(labels[1..].iter().map(|l| format!("{l} - native")));
    let mut lines = vec![
        format!("| {} |", header.join(" | ")),
        format!("|{}", "---|".repeat(header.len())),
    ];
    let mb = |k: u64| k as f64 / 1024.0;
    for (name, cells) in rows {
        let mut c = vec![name.clone()];
        c.extend(cells.iter().map(|v| match v {
            Some(k) => format!("{:.1}", mb(*k)),
            None => "failed".into(),
        }));
        c.extend(cells[1..].iter().map(|v| match (v, cells[0]) {
            (Some(k), Some(n)) => format!("{:+.1} MiB", mb(*k) - mb(n)),
            _ => "-".into(),
        }));
        lines.push(format!("| {} |", c.join(" | ")));
    }
    lines.join("\n")
}

const START: &str = "<!-- xarch-bench-debian:start -->";
const END: &str = "<!-- xarch-bench-debian:end -->";

pub fn run(args: DebianArgs) -> Result<()> {
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    if !(args.scale > 0.0 && args.scale <= 1.0) {
        bail!("--scale must be in (0, 1]");
    }
    for (what, p) in [
        ("--amd64-root", &args.amd64_root),
        ("--arm64-root", &args.arm64_root),
    ] {
        if !p.join("usr/bin/python3").exists() {
            bail!(
                "{what} {}: no usr/bin/python3 in it (see scripts/bench.sh)",
                p.display()
            );
        }
    }
    let sz = Sizes::new(args.scale);
    let load_start = report::load_average();
    eprintln!("bench: staging inputs");
    stage_inputs(&args.cache, &args.amd64_root, &args.zlib, &sz)?;
    stage_inputs(&args.cache, &args.arm64_root, &args.zlib, &sz)?;

    let mut runners = vec![Runner {
        label: "native".into(),
        kind: Kind::Native,
        root: args.amd64_root.clone(),
    }];
    for e in &args.engines {
        runners.push(Runner {
            label: format!("xarch {e}"),
            kind: Kind::Xarch(e.clone()),
            root: args.arm64_root.clone(),
        });
    }
    if args.qemu.is_some() {
        runners.push(Runner {
            label: "qemu".into(),
            kind: Kind::Qemu,
            root: args.arm64_root.clone(),
        });
    }
    // Each runner must work at all, and must run the right architecture.
    let mut usable = Vec::new();
    for r in runners {
        let want = if r.kind == Kind::Native {
            "x86_64"
        } else {
            "aarch64"
        };
        match r.run(&args, "uname -m") {
            Ok((out, _)) if out.trim() == want => usable.push(r),
            Ok((out, _)) => eprintln!(
                "bench: {} runs {:?}, not {want}: left out",
                r.label,
                out.trim()
            ),
            Err(e) if r.kind == Kind::Native => return Err(e),
            Err(e) => eprintln!("bench: {} does not work, left out: {e:#}", r.label),
        }
    }
    let runners = usable;
    for r in &runners {
        r.empty_code_cache()?;
    }
    // hello world, compiled in each root by its own gcc.
    let arm_compiler = runners.iter().find(|r| r.kind != Kind::Native);
    for r in [runners.first(), arm_compiler].into_iter().flatten() {
        if let Err(e) = r.run(&args, "gcc -O2 -o hello hello.c") {
            eprintln!("bench: compiling hello.c: {e:#}");
        }
    }

    let labels: Vec<String> = runners.iter().map(|r| r.label.clone()).collect();
    let qemu_last = runners.last().is_some_and(|r| r.kind == Kind::Qemu);
    let engines: Vec<usize> = if qemu_last {
        (1..runners.len() - 1).collect()
    } else {
        Vec::new()
    };
    let mut table = Table::new(labels.clone(), &engines);
    let mut cpu_table = Table::new(labels.clone(), &engines);
    let mut notes = Vec::new();
    let wanted = |key: &str| args.only.is_empty() || args.only.iter().any(|k| k == key);
    for w in workloads(&sz) {
        if !wanted(w.key) {
            continue;
        }
        let mut samples: Vec<Vec<f64>> = vec![Vec::new(); runners.len()];
        let mut cpu_samples: Vec<Vec<f64>> = vec![Vec::new(); runners.len()];
        let mut failed = vec![false; runners.len()];
        let mut outputs: Vec<Option<String>> = vec![None; runners.len()];
        for run in 0..args.runs {
            // Interleave the runners so that a change of the machine's
            // load affects them alike.
            for (k, r) in runners.iter().enumerate() {
                let long = samples[k].first().is_some_and(|&t| t > args.once_over);
                if failed[k] || long {
                    continue;
                }
                let result = w
                    .setup
                    .as_ref()
                    .map_or(Ok(()), |s| r.run(&args, s).map(|_| ()))
                    .and_then(|()| r.run(&args, &w.cmd));
                match result {
                    Ok((out, t)) => {
                        eprintln!(
                            "bench: {} / {} run {}: {:.2} s ({:.2} s CPU)",
                            w.name,
                            r.label,
                            run + 1,
                            t.wall,
                            t.cpu
                        );
                        samples[k].push(t.wall);
                        cpu_samples[k].push(t.cpu);
                        outputs[k] = Some(out);
                    }
                    Err(e) => {
                        eprintln!("bench: {} / {}: {e:#}", w.name, r.label);
                        notes.push(format!("{} failed under {}", w.name, r.label));
                        failed[k] = true;
                    }
                }
            }
        }
        for k in 1..runners.len() {
            if samples[k].len() == 1 && args.runs > 1 {
                notes.push(format!(
                    "{} under {}: one run (over {} s)",
                    w.name, runners[k].label, args.once_over
                ));
            }
            // Same program, same input: the arm64 build must print what
            // the amd64 build prints.
            if let (Some(a), Some(b)) = (&outputs[0], &outputs[k])
                && a != b
            {
                notes.push(format!(
                    "{} under {} printed {:?}, native {:?}",
                    w.name,
                    runners[k].label,
                    b.trim(),
                    a.trim()
                ));
            }
        }
        let medians = |v: &[Vec<f64>]| -> Vec<Option<f64>> {
            v.iter()
                .zip(&failed)
                .map(|(s, &f)| if f { None } else { median(s) })
                .collect()
        };
        table.rows.push(Row {
            name: w.name.clone(),
            cells: medians(&samples),
            per_process: w.per_process,
            in_geomean: w.in_geomean,
        });
        cpu_table.rows.push(Row {
            name: w.name.clone(),
            cells: medians(&cpu_samples),
            per_process: w.per_process,
            in_geomean: w.in_geomean,
        });
        println!(
            "{}",
            table
                .markdown()
                .lines()
                .nth(table.rows.len() + 1)
                .unwrap_or("")
        );
    }

    let mut rss = Vec::new();
    if wanted("rss") {
        eprintln!("bench: max RSS");
        rss.push((
            "hello world (C, dynamic)".to_string(),
            rss_row(&args, &runners, &[&format!("/{BENCH_DIR}/hello")]),
        ));
        rss.push((
            "python3 -c 'print(\"hello\")'".to_string(),
            rss_row(
                &args,
                &runners,
                &["/usr/bin/python3", "-c", "print('hello')"],
            ),
        ));
    }
    let time_md = table.markdown();
    let cpu_md = cpu_table.markdown();
    let rss_md = rss_markdown(&labels, &rss);
    let load_end = report::load_average();
    println!("\nwall-clock:\n\n{time_md}\n\nCPU (user + system):\n\n{cpu_md}\n");
    if !rss.is_empty() {
        println!("{rss_md}\n");
    }
    for n in &notes {
        println!("note: {n}");
    }
    println!(
        "machine: {}; load average {load_start} at the start, {load_end} at the end",
        report::machine()
    );

    if let Some(path) = &args.write {
        let qemu = args
            .qemu
            .as_ref()
            .filter(|_| qemu_last)
            .map(|q| format!("{} ({})", version_line(q), q.display()))
            .unwrap_or_else(|| "not measured".into());
        let mut s = format!(
            "{START}\n## Benchmark: Debian roots, native vs xarch vs qemu-user\n\n\
             Produced by `{invocation}` (xarch-bench debian: median of {runs} runs, but a workload whose first run under a runner took over {once} s ran once under it{scale}) at commit {commit}, {date}.\n\n\
             - Machine: {machine}; load average {load_start} at the start, {load_end} at the end.\n\
             - native: the amd64 Debian bookworm root (chroot in private mount and pid namespaces).\n\
             - xarch: `xarch run --engine=E --rootfs` on the arm64 root of the same package versions; a statically linked release xarch ({xv}); {cache}.\n\
             - qemu: {qemu}, registered for aarch64 in a private binfmt_misc instance (user namespace) so that every program the workload executes runs under it; chroot into the same arm64 root.\n\
             - Packages (both roots): {pkgs}.\n\
             - Times are wall-clock seconds of the whole command, including entering the root; /bin/true is shown per process.\n",
            runs = args.runs,
            once = args.once_over,
            invocation = args.invocation.as_deref().unwrap_or("scripts/bench.sh"),
            scale = if args.scale < 1.0 {
                format!(", inputs scaled by {}", args.scale)
            } else {
                String::new()
            },
            commit = report::commit(),
            date = report::now_utc(),
            machine = report::machine(),
            xv = version_line(&args.xarch),
            cache = if args.code_cache == "cold" {
                "its persistent code cache emptied before every run (every process translates all its code)"
            } else {
                "its persistent code cache emptied once at the start (the first run of each program fills it; the hello world compiled at the start and the configure runs store cc1's code before make runs)"
            },
            pkgs = package_versions(&args.arm64_root),
        );
        if let Some(n) = &args.note {
            s.push_str(&format!("- {n}\n"));
        }
        s.push_str(&format!(
            "\nWall-clock time (median):\n\n{time_md}\n\nCPU time, user + system of the whole process tree (median; less sensitive to the machine's load than wall-clock time; includes the emulators' own threads):\n\n{cpu_md}\n"
        ));
        if !rss.is_empty() {
            s.push_str(&format!(
                "\nMaximum RSS (getrusage of the measured process: for the emulators that includes the emulator; both run with the arm64 root as `-L` sysroot, one process):\n\n{rss_md}\n"
            ));
        }
        if !notes.is_empty() {
            s.push('\n');
            for n in &notes {
                s.push_str(&format!("- {n}\n"));
            }
        }
        s.push_str(&format!("{END}\n"));
        report::write_section(path, START, END, &s)?;
        eprintln!("bench: wrote {}", path.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_is_deterministic_and_mixed() {
        let a = mix_input(1 << 18);
        assert_eq!(a.len(), 1 << 18);
        assert_eq!(a, mix_input(1 << 18));
        let text = a
            .iter()
            .filter(|b| b.is_ascii_lowercase() || **b == b' ')
            .count();
        let high = a.iter().filter(|b| **b >= 0x80).count();
        assert!(text > a.len() / 4, "text {text}");
        assert!(high > 0, "no binary bytes");
    }

    #[test]
    fn sizes_scale_with_floors() {
        let full = Sizes::new(1.0);
        assert_eq!(full.mix_bytes, 20 << 20);
        assert_eq!(full.inserts, 300_000);
        assert_eq!(full.trues, 200);
        let small = Sizes::new(0.001);
        assert_eq!(small.trues, 5);
        assert_eq!(small.inserts, 1000);
        assert_eq!(mib(20 << 20), "20 MiB");
    }

    #[test]
    fn rss_table_deltas() {
        let md = rss_markdown(
            &["native".into(), "xarch".into()],
            &[
                ("hello".into(), vec![Some(1024), Some(3072)]),
                ("py".into(), vec![None, Some(10)]),
            ],
        );
        let lines: Vec<&str> = md.lines().collect();
        assert_eq!(
            lines[0],
            "| program | native MiB | xarch MiB | xarch - native |"
        );
        assert_eq!(lines[2], "| hello | 1.0 | 3.0 | +2.0 MiB |");
        assert_eq!(lines[3], "| py | failed | 0.0 | - |");
    }
}
