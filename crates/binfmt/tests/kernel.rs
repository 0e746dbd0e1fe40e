//! The handler contract against the real kernel, no emulator needed.
//!
//! This test binary is its own probe: copied to a file named
//! `xarch-aarch64-binfmt` and registered in a private binfmt_misc instance
//! (new user + mount namespace, Linux 6.7+), it is started by the kernel for
//! Debian's arm64 busybox and prints what `GuestExec::from_process` parsed.
//! So every flag (P, O, C, F) is checked end to end through the same code
//! xarch's handler entry uses. Without a private instance the tests skip.
//!
//! `harness = false` (the probe needs its own `main`); prints a closing
//! `N passed, N failed, N skipped` line.

mod common;

use common::{NsRun, busybox, host_snapshot, in_private_binfmt, show};
use serde_json::{Value, json};
use std::ffi::OsString;
use std::io::Read;
use std::os::fd::AsFd;
use xarch_binfmt::handler::{GuestExec, handler_arch};

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Probe mode: report the parsed invocation as one JSON line.
fn probe() -> i32 {
    let req = match GuestExec::from_process() {
        Ok(Some(r)) => r,
        Ok(None) => return 2,
        Err(e) => {
            eprintln!("probe: {e}");
            return 3;
        }
    };
    let exec_fd = req.exec_fd.as_ref().map(|fd| {
        let cloexec = rustix::io::fcntl_getfd(fd.as_fd())
            .map(|f| f.contains(rustix::io::FdFlags::CLOEXEC))
            .unwrap_or(false);
        let mut data = Vec::new();
        let mut f = std::fs::File::from(fd.try_clone().expect("dup AT_EXECFD"));
        f.read_to_end(&mut data).expect("read AT_EXECFD");
        json!({ "len": data.len(), "fnv": fnv1a(&data), "cloexec": cloexec })
    });
    // SAFETY: getuid/geteuid have no preconditions and cannot fail.
    let (uid, euid) = unsafe { (libc::getuid(), libc::geteuid()) };
    let v = json!({
        "arch": req.arch.name,
        "path": req.path.to_string_lossy(),
        "argv": req.argv.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>(),
        "preserve_argv0": req.preserve_argv0,
        "secure": req.secure,
        "uid": uid,
        "euid": euid,
        "path_readable": std::fs::File::open(&req.path).is_ok(),
        "exec_fd": exec_fd,
    });
    println!("PROBE {v}");
    0
}

/// Escaped magic and mask for the registration line.
fn reg_env(flags: &str) -> Vec<(&'static str, OsString)> {
    let a = &xarch_binfmt::ARCHES[0];
    let esc = |b: Vec<u8>| b.iter().map(|b| format!("\\x{b:02x}")).collect::<String>();
    vec![
        ("MAGIC", esc(a.magic_bytes()).into()),
        ("MASK", esc(a.mask_bytes()).into()),
        ("FLAGS", flags.into()),
        ("SELF", std::env::current_exe().unwrap().into()),
        ("BUSYBOX", busybox().unwrap().into()),
    ]
}

/// Prologue: probe at $T/xarch-aarch64-binfmt registered with $FLAGS,
/// busybox copied to $T/bb.
const SETUP: &str = r#"
cp "$SELF" "$T/xarch-aarch64-binfmt"
cp "$BUSYBOX" "$T/bb"
printf ':xarch-aarch64:M::%s:%s:%s:%s' "$MAGIC" "$MASK" "$T/xarch-aarch64-binfmt" "$FLAGS" > "$M/register"
"#;

enum Outcome {
    Pass,
    Skip(String),
}

type TestResult = Result<Outcome, String>;
type TestFn = fn() -> TestResult;

/// Runs SETUP + `script` with the probe registered with `flags`; returns
/// every PROBE line parsed, plus the whole output.
fn run(flags: &str, script: &str) -> Result<Result<(Vec<Value>, String), String>, String> {
    if let Err(e) = busybox() {
        return Ok(Err(e));
    }
    match in_private_binfmt(&format!("{SETUP}{script}"), &reg_env(flags)) {
        NsRun::Skip(why) => Ok(Err(why)),
        NsRun::Ran(out) => {
            let text = show(&out);
            if !out.status.success() {
                return Err(format!("script failed:\n{text}"));
            }
            let probes = String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter_map(|l| l.strip_prefix("PROBE "))
                .map(|l| serde_json::from_str(l).map_err(|e| format!("{e}: {l}")))
                .collect::<Result<Vec<Value>, String>>()?;
            Ok(Ok((probes, text)))
        }
    }
}

macro_rules! check {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

macro_rules! probes {
    ($flags:expr, $script:expr) => {
        match run($flags, $script)? {
            Ok(p) => p,
            Err(skip) => return Ok(Outcome::Skip(skip)),
        }
    };
}

fn no_flags_argv0_is_path() -> TestResult {
    let (p, out) = probes!("", r#""$T/bb" one two; cd "$T" && ./bb three"#);
    check!(p.len() == 2, "expected two probe runs:\n{out}");
    let t = p[0]["path"]
        .as_str()
        .unwrap()
        .trim_end_matches("/bb")
        .to_owned();
    check!(
        p[0]["argv"] == json!([format!("{t}/bb"), "one", "two"]),
        "{out}"
    );
    check!(
        p[0]["preserve_argv0"] == false && p[0]["exec_fd"].is_null(),
        "{out}"
    );
    check!(
        p[0]["arch"] == "aarch64" && p[0]["secure"] == false,
        "{out}"
    );
    // A relative path reaches the handler as the caller wrote it.
    check!(
        p[1]["path"] == "./bb" && p[1]["argv"] == json!(["./bb", "three"]),
        "{out}"
    );
    Ok(Outcome::Pass)
}

fn p_flag_preserves_argv0() -> TestResult {
    let (p, out) = probes!(
        "P",
        r#"bash -c 'exec -a custom-argv0 "$T/bb" one'; bash -c 'exec -a "" "$T/bb"'"#
    );
    check!(p.len() == 2, "{out}");
    check!(p[0]["argv"] == json!(["custom-argv0", "one"]), "{out}");
    check!(p[0]["path"].as_str().unwrap().ends_with("/bb"), "{out}");
    check!(p[0]["preserve_argv0"] == true, "{out}");
    check!(
        p[1]["argv"] == json!([""]),
        "empty argv[0] must stay empty:\n{out}"
    );
    Ok(Outcome::Pass)
}

fn o_flag_passes_unreadable_binary_as_fd() -> TestResult {
    let bb = std::fs::read(busybox().map_err(|e| e.to_string())?).unwrap();
    let run_as_user =
        r#"chmod 0711 "$T/bb"; setpriv --reuid=1000 --regid=1000 --clear-groups "$T/bb" x"#;
    let (p, out) = probes!("O", run_as_user);
    check!(p.len() == 1, "{out}");
    check!(
        p[0]["euid"] == 1000 && p[0]["path_readable"] == false,
        "{out}"
    );
    let fd = &p[0]["exec_fd"];
    check!(
        fd["len"] == bb.len() && fd["fnv"] == fnv1a(&bb),
        "AT_EXECFD is not the binary:\n{out}"
    );
    check!(
        fd["cloexec"] == true,
        "AT_EXECFD must be close-on-exec for the guest:\n{out}"
    );
    // Without O the handler gets only the path, which it cannot read.
    let (p, out) = probes!("", run_as_user);
    check!(
        p[0]["exec_fd"].is_null() && p[0]["path_readable"] == false,
        "{out}"
    );
    Ok(Outcome::Pass)
}

fn c_flag_uses_binary_credentials() -> TestResult {
    let setuid = r#"chown 0:0 "$T/bb"; chmod 4755 "$T/bb"; setpriv --reuid=1000 --regid=1000 --clear-groups "$T/bb" id"#;
    let (p, out) = probes!("C", setuid);
    check!(p.len() == 1, "{out}");
    check!(
        p[0]["uid"] == 1000 && p[0]["euid"] == 0,
        "C: setuid root binary must run with euid 0:\n{out}"
    );
    check!(
        p[0]["secure"] == true && !p[0]["exec_fd"].is_null(),
        "{out}"
    );
    let (p, out) = probes!("", setuid);
    check!(
        p[0]["uid"] == 1000 && p[0]["euid"] == 1000 && p[0]["secure"] == false,
        "without C the interpreter's credentials apply:\n{out}"
    );
    Ok(Outcome::Pass)
}

fn f_flag_keeps_interpreter_open() -> TestResult {
    let gone =
        r#"rm "$T/xarch-aarch64-binfmt"; if "$T/bb" after-rm; then echo RAN; else echo FAILED; fi"#;
    let (p, out) = probes!("F", gone);
    check!(
        p.len() == 1 && p[0]["argv"][1] == "after-rm" && out.contains("RAN"),
        "{out}"
    );
    let (p, out) = probes!("", gone);
    check!(
        p.is_empty() && out.contains("FAILED"),
        "without F a missing interpreter must fail:\n{out}"
    );
    Ok(Outcome::Pass)
}

fn main() {
    let args: Vec<OsString> = std::env::args_os().collect();
    if args.first().is_some_and(|a| handler_arch(a).is_some()) {
        std::process::exit(probe());
    }
    let filter = args
        .iter()
        .skip(1)
        .find(|a| !a.to_string_lossy().starts_with('-'));
    let tests: &[(&str, TestFn)] = &[
        ("no_flags_argv0_is_path", no_flags_argv0_is_path),
        ("p_flag_preserves_argv0", p_flag_preserves_argv0),
        (
            "o_flag_passes_unreadable_binary_as_fd",
            o_flag_passes_unreadable_binary_as_fd,
        ),
        (
            "c_flag_uses_binary_credentials",
            c_flag_uses_binary_credentials,
        ),
        (
            "f_flag_keeps_interpreter_open",
            f_flag_keeps_interpreter_open,
        ),
    ];
    let before = host_snapshot();
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for (name, f) in tests {
        if filter.is_some_and(|flt| !name.contains(&*flt.to_string_lossy())) {
            continue;
        }
        match f() {
            Ok(Outcome::Pass) => {
                passed += 1;
                println!("test {name} ... ok");
            }
            Ok(Outcome::Skip(why)) => {
                skipped += 1;
                println!("test {name} ... skipped: {why}");
            }
            Err(e) => {
                failed += 1;
                println!("test {name} ... FAILED\n{e}");
            }
        }
    }
    match (&before, host_snapshot()) {
        (Some(b), Some(a)) if *b == a => {
            passed += 1;
            println!("test host_binfmt_misc_unchanged ... ok");
        }
        (Some(b), Some(a)) => {
            failed += 1;
            println!("test host_binfmt_misc_unchanged ... FAILED\nbefore:\n{b}\nafter:\n{a}");
        }
        _ => {
            skipped += 1;
            println!(
                "test host_binfmt_misc_unchanged ... skipped: cannot read the host's binfmt_misc"
            );
        }
    }
    println!("\n{passed} passed, {failed} failed, {skipped} skipped");
    std::process::exit(if failed == 0 { 0 } else { 1 });
}
