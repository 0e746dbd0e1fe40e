//! Quick mode: busybox-static workloads (the amd64 build natively, the
//! arm64 build of the same version under xarch and qemu-aarch64). Needs
//! only the fixtures of scripts/fixtures.sh; a couple of minutes.

use crate::report;
use crate::table::{Row, Table, median};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

#[derive(clap::Args)]
pub struct QuickArgs {
    /// Runs per workload and runner (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// xarch engines to measure (e.g. interp,baseline,opt).
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
    let mut rng = crate::table::XorShift(0x2545_f491_4f6c_dd1d);
    let mut next = || rng.next_u64();
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

/// Markers around the section `--write` maintains in docs/PERFORMANCE.md.
const START: &str = "<!-- xarch-bench:start -->";
const END: &str = "<!-- xarch-bench:end -->";

pub fn run(args: QuickArgs) -> Result<()> {
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
                format!("--engine={e}"),
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
    let engines: Vec<usize> = if qemu.is_some() {
        (1..=args.engines.len()).collect()
    } else {
        Vec::new()
    };
    let mut table = Table::new(runners.iter().map(|r| r.0.clone()).collect(), &engines);
    for w in workloads(&inputs) {
        if args
            .filter
            .as_ref()
            .is_some_and(|f| !w.name.contains(f.as_str()))
        {
            continue;
        }
        let mut cells = Vec::new();
        for (_, prefix) in &runners {
            let mut cmd = prefix.clone();
            cmd.extend(w.args.iter().cloned());
            let times = (0..args.runs)
                .map(|_| time_once(&cmd, w.repeat))
                .collect::<Result<Vec<_>>>()?;
            cells.push(median(&times));
        }
        table.rows.push(Row {
            name: w.name.to_string(),
            cells,
            per_process: None,
            in_geomean: true,
        });
        eprintln!(
            "{}",
            table.rows.last().map(|r| r.name.as_str()).unwrap_or("")
        );
    }
    let text = table.markdown();
    println!("\n{text}\n\nmachine: {}", report::machine());
    if let Some(path) = &args.write {
        let section = format!(
            "{START}\n## Quick benchmark: busybox, native vs xarch vs qemu-user\n\nProduced by `scripts/bench.sh --quick` (xarch-bench quick, median of {} runs) at commit {}, {}.\nWorkloads run Debian bookworm's busybox-static: the amd64 build natively, the arm64 build of the same version under xarch and under qemu-aarch64.\n\nMachine: {} (load average {} at the end)\n\n{text}\n{END}\n",
            args.runs,
            report::commit(),
            report::now_utc(),
            report::machine(),
            report::load_average(),
        );
        report::write_section(path, START, END, &section)?;
    }
    Ok(())
}
