//! Debian's statically linked arm64 Go programs under the runner, against
//! the same versions' amd64 builds run natively: shfmt (a shell formatter:
//! parsing, printing, a directory walk, JSON) and gosu (setuid/setgid, then
//! execve of a native or a foreign program). Stdout, stderr (paths and the
//! `linux/arm64` of version strings normalised) and the exit status must be
//! equal, and each case states the status the native run must have.
//!
//! Fixtures: `scripts/fixtures.sh` ($XARCH_CACHE/go-programs and busybox).

mod common;

use common::{Outcome, Status, TempDir};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

fn program(arch: &str, name: &str) -> Option<PathBuf> {
    common::fixture(
        common::cache_dir()
            .join("go-programs")
            .join(arch)
            .join(name),
        "scripts/fixtures.sh",
    )
}

/// Runs `name` with `args` on `stdin` in `dir`, for arm64 (under the runner)
/// and amd64 (natively), and returns both outcomes normalised.
fn both(name: &str, args: &[&str], dir: &Path, stdin: &[u8]) -> Option<(Outcome, Outcome)> {
    let arm = program("arm64", name)?;
    let amd = program("amd64", name)?;
    let env = [("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), ("LC_ALL", "C")];
    let mut argv = common::runner();
    argv.push(arm.clone().into());
    argv.extend(args.iter().map(OsString::from));
    let emulated = common::run(&argv, dir, &env, stdin);
    let mut argv: Vec<OsString> = vec![amd.clone().into()];
    argv.extend(args.iter().map(OsString::from));
    let native = common::run(&argv, dir, &env, stdin);
    let fix = |mut o: Outcome, path: &Path| {
        let p = path.to_string_lossy();
        let repl = [
            (&*p, "PROG"),
            ("linux/arm64", "linux/ARCH"),
            ("linux/amd64", "linux/ARCH"),
        ];
        o.stderr = common::normalize(&o.stderr, &repl);
        let mut out = String::from_utf8_lossy(&o.stdout).into_owned();
        for (from, to) in repl {
            out = out.replace(from, to);
        }
        o.stdout = out.into_bytes();
        o
    };
    Some((fix(native, &amd), fix(emulated, &arm)))
}

fn check(what: &str, name: &str, args: &[&str], dir: &Path, stdin: &[u8], want: Status) {
    let Some((native, emulated)) = both(name, args, dir, stdin) else {
        return;
    };
    assert_eq!(native.status, want, "{what}: native run\n{native:?}");
    common::assert_same(what, &native, &emulated);
}

/// A shell script with most of the syntax shfmt knows, badly formatted.
const SCRIPT: &str = r#"#!/bin/bash
# comment
set -eu
f(){ local a=$1;shift
for x in "$@" ;do case $x in
  a|b) echo  "$x" ;;
 *) printf '%s\n' "${x%%.*}"|tr a-z A-Z;;
esac;done
}
if [ -n "${HOME:-}" ] &&[ $# -gt 0 ];then f "$@" ;elif true;then : ;else exit 3;fi
while read -r l;do echo $((l*2)) ; done <<EOF
1
2
EOF
{ echo a; echo b; } >/dev/null 2>&1 & wait
arr=( one two three ) ; echo "${arr[@]:1}"
[[ $x =~ ^a.*$ ]] && echo yes || echo no
cat <<-'X'
	tabbed $not_expanded
	X
"#;

#[test]
fn shfmt_formats_stdin() {
    let tmp = TempDir::new("shfmt");
    let ok = Status::Exit(0);
    let s = SCRIPT.as_bytes();
    check("shfmt", "shfmt", &[], tmp.path(), s, ok);
    check(
        "shfmt -i 2 -ci -sr -bn",
        "shfmt",
        &["-i", "2", "-ci", "-sr", "-bn"],
        tmp.path(),
        s,
        ok,
    );
    check("shfmt -mn", "shfmt", &["-mn"], tmp.path(), s, ok);
    check(
        "shfmt -ln posix",
        "shfmt",
        &["-ln", "posix"],
        tmp.path(),
        s,
        Status::Exit(1),
    );
    check("shfmt -tojson", "shfmt", &["-tojson"], tmp.path(), s, ok);
    check(
        "shfmt syntax error",
        "shfmt",
        &[],
        tmp.path(),
        b"if then fi (\n",
        Status::Exit(1),
    );
    check(
        "shfmt --version",
        "shfmt",
        &["--version"],
        tmp.path(),
        b"",
        ok,
    );
}

/// `shfmt -l -w` on a directory tree: a walk, reads, atomic rewrites.
#[test]
fn shfmt_rewrites_a_tree() {
    let mut results = Vec::new();
    for arch in ["amd64", "arm64"] {
        let tmp = TempDir::new("shfmt-tree");
        for (i, dir) in ["a", "a/b", "c"].iter().enumerate() {
            std::fs::create_dir_all(tmp.path().join(dir)).unwrap();
            std::fs::write(tmp.path().join(dir).join(format!("s{i}.sh")), SCRIPT).unwrap();
            std::fs::write(tmp.path().join(dir).join("ok.sh"), "echo ok\n").unwrap();
            std::fs::write(tmp.path().join(dir).join("x.txt"), SCRIPT).unwrap();
        }
        let Some(prog) = program(arch, "shfmt") else {
            return;
        };
        let mut argv = if arch == "arm64" {
            common::runner()
        } else {
            Vec::new()
        };
        argv.push(prog.into());
        argv.extend(["-l", "-w", "-i", "4", "."].map(OsString::from));
        let out = common::run(&argv, tmp.path(), &[("PATH", "/usr/bin:/bin")], b"");
        let mut tree = Vec::new();
        for dir in ["a", "a/b", "c"] {
            let mut names: Vec<_> = std::fs::read_dir(tmp.path().join(dir))
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.is_file())
                .collect();
            names.sort();
            for p in names {
                let rel = p.strip_prefix(tmp.path()).unwrap().to_owned();
                tree.push((rel, std::fs::read(&p).unwrap()));
            }
        }
        results.push((out, tree));
    }
    let (native, emulated) = (&results[0], &results[1]);
    assert_eq!(native.0.status, Status::Exit(0), "native\n{:?}", native.0);
    assert!(!native.0.stdout.is_empty(), "native listed no files");
    common::assert_same("shfmt -l -w", &native.0, &emulated.0);
    assert_eq!(native.1, emulated.1, "the rewritten trees differ");
}

#[test]
fn gosu_version_and_usage() {
    let tmp = TempDir::new("gosu");
    check(
        "gosu --version",
        "gosu",
        &["--version"],
        tmp.path(),
        b"",
        Status::Exit(0),
    );
    check(
        "gosu (usage)",
        "gosu",
        &[],
        tmp.path(),
        b"",
        Status::Exit(1),
    );
    check(
        "gosu nosuchuser",
        "gosu",
        &["no-such-user-x", "true"],
        tmp.path(),
        b"",
        Status::Exit(1),
    );
}

/// As root: gosu drops to `nobody` and executes a native program (`id`)
/// and, for the arm64 gosu, a foreign one (arm64 busybox, re-entering the
/// emulator after setuid) against the amd64 busybox natively.
#[test]
fn gosu_switches_user() {
    use std::os::unix::fs::MetadataExt;
    // /proc/self belongs to the effective uid.
    if std::fs::metadata("/proc/self").map_or(true, |m| m.uid() != 0) {
        eprintln!("skipping: gosu needs root to switch users");
        return;
    }
    let tmp = TempDir::new("gosu-id");
    let ok = Status::Exit(0);
    check(
        "gosu nobody id",
        "gosu",
        &["nobody", "id"],
        tmp.path(),
        b"",
        ok,
    );
    check(
        "gosu 65534:65534 id -G",
        "gosu",
        &[
            "65534:65534",
            "sh",
            "-c",
            "id -u; id -G; grep -E '^(Cap(Prm|Eff)|NoNewPrivs)' /proc/self/status",
        ],
        tmp.path(),
        b"",
        ok,
    );
    let bb = |arch: &str| {
        common::fixture(
            common::cache_dir()
                .join("busybox")
                .join(arch)
                .join("busybox"),
            "scripts/fixtures.sh",
        )
    };
    let (Some(bb_arm), Some(bb_amd), Some(g_arm), Some(g_amd)) = (
        bb("arm64"),
        bb("amd64"),
        program("arm64", "gosu"),
        program("amd64", "gosu"),
    ) else {
        return;
    };
    let env = [("PATH", "/usr/bin:/bin")];
    let script = "id; uname -m; echo $PPID >/dev/null; cat /proc/self/cmdline | tr '\\0' ' '";
    let mut argv = common::runner();
    argv.push(g_arm.into());
    argv.extend([
        "nobody".into(),
        bb_arm.clone().into(),
        "sh".into(),
        "-c".into(),
        script.into(),
    ]);
    let emulated = common::run(&argv, tmp.path(), &env, b"");
    let argv: Vec<OsString> = vec![
        g_amd.into(),
        "nobody".into(),
        bb_amd.clone().into(),
        "sh".into(),
        "-c".into(),
        script.into(),
    ];
    let native = common::run(&argv, tmp.path(), &env, b"");
    assert_eq!(native.status, ok, "native\n{native:?}");
    let fix = |o: Outcome, bb: &Path| {
        let s = String::from_utf8_lossy(&o.stdout)
            .replace(&*bb.to_string_lossy(), "BUSYBOX")
            .replace("aarch64", "MACHINE")
            .replace("x86_64", "MACHINE");
        Outcome {
            stdout: s.into_bytes(),
            ..o
        }
    };
    common::assert_same(
        "gosu nobody busybox sh",
        &fix(native, &bb_amd),
        &fix(emulated, &bb_arm),
    );
}
