//! Guest C programs for threads, signals, processes and /proc, cross-built
//! with `aarch64-linux-gnu-gcc -static -pthread` and run under `xarch run`
//! with each engine. Each program checks itself and prints "<name> ok".
//! Skips when the cross compiler is missing.

use std::path::{Path, PathBuf};
use std::process::Command;

fn build(name: &str) -> Option<PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/guest")
        .join(format!("{name}.c"));
    let dir = std::env::temp_dir().join(format!("xarch-guest-c-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let out = dir.join(name);
    let status = match Command::new("aarch64-linux-gnu-gcc")
        .args(["-O1", "-static", "-pthread", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
    {
        Ok(s) => s,
        Err(_) => {
            eprintln!("skipping: aarch64-linux-gnu-gcc is not available");
            return None;
        }
    };
    assert!(status.success(), "compiling {}", src.display());
    Some(out)
}

fn run(name: &str, args: &[&str]) {
    let Some(prog) = build(name) else { return };
    // Also the engine XARCH_ENGINE names, when it is another one.
    let mut engines = vec!["baseline".to_string(), "interp".to_string()];
    if let Ok(e) = std::env::var("XARCH_ENGINE")
        && !engines.contains(&e)
    {
        engines.push(e);
    }
    for engine in &engines {
        let out = Command::new(env!("CARGO_BIN_EXE_xarch"))
            .args(["run", "--engine", engine])
            .arg(&prog)
            .args(args)
            .output()
            .expect("running xarch");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains(&format!("{name} ok")),
            "{name} ({engine}): {:?}\nstdout:\n{stdout}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn pthread_mutex_condvar_stress_and_thread_ids() {
    run("threads", &[]);
}

#[test]
fn signal_frame_fields_for_faults_brk_and_undefined() {
    run("sigframe", &[]);
}

#[test]
fn async_signals_restart_altstack_sigwait_signalfd_rt() {
    run("signals", &[]);
}

#[test]
fn fork_and_spawn_from_threads_and_leader_exit() {
    run("fork", &[]);
}

#[test]
fn proc_views_of_the_guest() {
    run("proc", &["one", "two words"]);
}

#[test]
fn generated_code_is_invalidated_when_rewritten() {
    run("selfmod", &[]);
}
