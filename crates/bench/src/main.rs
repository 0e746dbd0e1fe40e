//! `xarch-bench`: runs the same workloads natively (amd64 build), under
//! xarch and under qemu-aarch64 (arm64 build of the same version), and
//! prints the ratios. Speed is measured here, never asserted in tests.
//!
//! ```text
//! scripts/bench.sh            # builds release binaries, fetches fixtures, runs
//! ```

use anyhow::{Context, Result, bail};
use clap::Parser;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

#[derive(Parser)]
#[command(about = "Native vs xarch vs qemu-user on the same workloads")]
struct Args {
    /// Runs per workload and runner (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// xarch engines to measure (interp, baseline).
    #[arg(long, value_delimiter = ',', default_value = "baseline")]
    engines: Vec<String>,
    /// Only workloads whose name contains this.
    #[arg(long)]
    filter: Option<String>,
    /// Skip qemu-aarch64 even if installed.
    #[arg(long)]
    no_qemu: bool,
    /// Write the table to this Markdown file (e.g. docs/PERFORMANCE.md).
    #[arg(long)]
    write: Option<PathBuf>,
    /// The fixture cache (as scripts/fixtures.sh fills it).
    #[arg(long, env = "XARCH_CACHE", default_value = ".cache")]
    cache: PathBuf,
    /// The xarch binary (default: next to this one).
    #[arg(long)]
    xarch: Option<PathBuf>,
}

/// One workload: busybox arguments and the input files it needs.
struct Workload {
    name: &'static str,
    args: Vec<String>,
    repeat: usize,
}

fn workloads(dir: &Path) -> Vec<Workload> {
    let f = |n: &str| dir.join(n).display().to_string();
    let s = |x: &str| x.to_string();
    vec![
        Workload {
            name: "gzip -9, 8 MiB",
            args: vec![s("gzip"), s("-9"), s("-c"), f("text8m")],
            repeat: 1,
        },
        Workload {
            name: "bzip2, 2 MiB",
            args: vec![s("bzip2"), s("-c"), f("text2m")],
            repeat: 1,
        },
        Workload {
            name: "sha256sum, 16 MiB",
            args: vec![s("sha256sum"), f("bin16m")],
            repeat: 1,
        },
        Workload {
            name: "sort, 200k lines",
            args: vec![s("sort"), f("lines200k")],
            repeat: 1,
        },
        Workload {
            name: "awk numeric loop",
            args: vec![
                s("awk"),
                s("BEGIN { s = 0; for (i = 0; i < 300000; i++) s += (i * i) % 7; print s }"),
            ],
            repeat: 1,
        },
        Workload {
            name: "sh arithmetic loop",
            args: vec![
                s("sh"),
                s("-c"),
                s("i=0; while [ $i -lt 30000 ]; do i=$((i + 1)); done; echo $i"),
            ],
            repeat: 1,
        },
        Workload {
            name: "true x100 (start-up)",
            args: vec![s("true")],
            repeat: 100,
        },
    ]
}

/// Deterministic inputs, generated once into the cache.
fn make_inputs(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
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
    ];
    let text = |bytes: usize, next: &mut dyn FnMut() -> u64| {
        let mut s = String::with_capacity(bytes + 16);
        while s.len() < bytes {
            s.push_str(words[(next() % 10) as usize]);
            s.push(if next().is_multiple_of(12) { '\n' } else { ' ' });
        }
        s
    };
    type Generator<'a> = Box<dyn Fn(&mut dyn FnMut() -> u64) -> Vec<u8> + 'a>;
    let files: [(&str, Generator); 4] = [
        ("text8m", Box::new(|n| text(8 << 20, n).into_bytes())),
        ("text2m", Box::new(|n| text(2 << 20, n).into_bytes())),
        (
            "bin16m",
            Box::new(|n| {
                (0..(16 << 20) / 8)
                    .flat_map(|_| n().to_le_bytes())
                    .collect()
            }),
        ),
        (
            "lines200k",
            Box::new(|n| {
                (0..200_000)
                    .map(|_| format!("{:016x}\n", n()))
                    .collect::<String>()
                    .into_bytes()
            }),
        ),
    ];
    for (name, gen_fn) in files {
        let p = dir.join(name);
        if !p.exists() {
            std::fs::write(&p, gen_fn(&mut next))?;
        }
    }
    Ok(())
}

fn time_once(cmd: &[String], repeat: usize) -> Result<f64> {
    let start = Instant::now();
    for _ in 0..repeat {
        let st = Command::new(&cmd[0])
            .args(&cmd[1..])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .with_context(|| format!("running {}", cmd[0]))?;
        if !st.success() {
            bail!("{} failed: {st}", cmd.join(" "));
        }
    }
    Ok(start.elapsed().as_secs_f64())
}

fn median(runs: usize, cmd: &[String], repeat: usize) -> Result<f64> {
    let mut t: Vec<f64> = (0..runs)
        .map(|_| time_once(cmd, repeat))
        .collect::<Result<_>>()?;
    t.sort_by(f64::total_cmp);
    Ok(t[t.len() / 2])
}

/// Markers around the section `--write` maintains in docs/PERFORMANCE.md.
const START: &str = "<!-- xarch-bench:start -->";
const END: &str = "<!-- xarch-bench:end -->";

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cpu}, {cores} cores, Linux {}", kernel.trim())
}

fn main() -> Result<()> {
    let args = Args::parse();
    let bb = args.cache.join("busybox");
    let (native, arm64) = (bb.join("amd64/busybox"), bb.join("arm64/busybox"));
    if !native.exists() || !arm64.exists() {
        bail!(
            "fixtures missing in {}: run scripts/fixtures.sh first",
            bb.display()
        );
    }
    let xarch = match &args.xarch {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.with_file_name("xarch"),
    };
    let qemu = (!args.no_qemu)
        .then(|| {
            ["qemu-aarch64", "qemu-aarch64-static"]
                .into_iter()
                .find(|q| {
                    Command::new(q)
                        .arg("--version")
                        .output()
                        .is_ok_and(|o| o.status.success())
                })
        })
        .flatten();
    let inputs = args.cache.join("bench-inputs");
    make_inputs(&inputs)?;

    let mut runners: Vec<(String, Vec<String>)> =
        vec![("native".into(), vec![native.display().to_string()])];
    for e in &args.engines {
        runners.push((
            format!("xarch ({e})"),
            vec![
                xarch.display().to_string(),
                "run".into(),
                "--engine".into(),
                e.clone(),
                "--".into(),
                arm64.display().to_string(),
            ],
        ));
    }
    if let Some(q) = qemu {
        runners.push((
            "qemu-user".into(),
            vec![q.to_string(), arm64.display().to_string()],
        ));
    }

    let mut header = String::from("| workload |");
    for (name, _) in &runners {
        header.push_str(&format!(" {name} s |"));
    }
    for (name, _) in &runners[1..] {
        header.push_str(&format!(" {name}/native |"));
    }
    let mut table = vec![
        header.clone(),
        header.replace(|c: char| c != '|', "-").replace("||", "|-|"),
    ];
    let mut logs = vec![0f64; runners.len()];
    let mut count = 0;
    for w in workloads(&inputs) {
        if args
            .filter
            .as_ref()
            .is_some_and(|f| !w.name.contains(f.as_str()))
        {
            continue;
        }
        let mut times = Vec::new();
        for (_, prefix) in &runners {
            let mut cmd = prefix.clone();
            cmd.extend(w.args.iter().cloned());
            times.push(median(args.runs, &cmd, w.repeat)?);
        }
        let mut row = format!("| {} |", w.name);
        for t in &times {
            row.push_str(&format!(" {t:.3} |"));
        }
        for (k, t) in times.iter().enumerate().skip(1) {
            row.push_str(&format!(" {:.1}x |", t / times[0]));
            logs[k] += (t / times[0]).ln();
        }
        count += 1;
        println!("{row}");
        table.push(row);
    }
    let mut geo = String::from("| geomean |");
    for _ in &runners {
        geo.push_str(" |");
    }
    for l in &logs[1..] {
        geo.push_str(&format!(" {:.1}x |", (l / count.max(1) as f64).exp()));
    }
    table.push(geo);
    let text = table.join("\n");
    println!("\n{text}\n\nmachine: {}", machine());
    if let Some(path) = &args.write {
        let commit = Command::new("git")
            .args(["rev-parse", "--short", "HEAD"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        let section = format!(
            "{START}\n## Benchmark: native vs xarch vs qemu-user\n\nProduced by `scripts/bench.sh` (xarch-bench, median of {} runs) at commit {commit}.\nWorkloads run Debian bookworm's busybox-static: the amd64 build natively, the arm64 build of the same version under xarch and under qemu-aarch64.\n\nMachine: {}\n\n{text}\n{END}\n",
            args.runs,
            machine()
        );
        // Replace only the benchmark section; the rest of the file is prose
        // and other measurements.
        let old =
            std::fs::read_to_string(path).unwrap_or_else(|_| "# xarch performance\n\n".into());
        let doc = match (old.find(START), old.find(END)) {
            (Some(a), Some(b)) if a < b => format!(
                "{}{section}{}",
                &old[..a],
                old[b + END.len()..].trim_start_matches('\n')
            ),
            _ => format!("{}\n{section}", old.trim_end()),
        };
        std::fs::write(path, doc)?;
    }
    Ok(())
}
